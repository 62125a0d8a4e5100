"""Create (or check) a SoftHSM2 token in a directory of the caller's choosing."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
_PIN_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LABEL_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


class TokenSetupError(Exception):
    """The token could not be created or does not match what was asked for."""


@dataclass(frozen=True)
class SoftHsmToken:
    """Where a SoftHSM2 token lives and how to open it."""

    conf_path: Path
    label: str
    module: Path
    user_pin_file: Path
    so_pin_file: Path
    created: bool

    @property
    def env(self) -> dict[str, str]:
        """Environment variables the PKCS#11 module needs to find this token."""
        return {"SOFTHSM2_CONF": str(self.conf_path)}

    def user_pin(self) -> str:
        """The user PIN, read from its file."""
        return self.user_pin_file.read_text(encoding="utf-8").strip()

    def so_pin(self) -> str:
        """The security officer PIN, read from its file (officer tools: making a KEK)."""
        return self.so_pin_file.read_text(encoding="utf-8").strip()


def create_token(
    directory: Path,
    label: str,
    *,
    so_pin: str | None = None,
    user_pin: str | None = None,
    secrets_dir: Path | None = None,
    module: Path = SOFTHSM_MODULE,
) -> SoftHsmToken:
    """Make sure `directory` holds a SoftHSM2 token called `label`.

    Args:
        directory: where `softhsm2.conf` and the `tokens/` folder go; created if missing.
        label: the token label (1-32 letters, digits, `.`, `_`, `-`).
        so_pin: the security officer PIN; taken from `secrets_dir` or generated when None.
        user_pin: the user PIN; taken from `secrets_dir` or generated when None.
        secrets_dir: where the PINs are kept, mode 0600 (default: `directory/../secrets`).
        module: the SoftHSM2 PKCS#11 module.

    Returns:
        The token's paths; `created` says whether this call initialised it.

    Raises:
        TokenSetupError: softhsm2-util is missing, the label is invalid, or a token with this
            label exists and refuses these PINs (it is never overwritten).
    """
    if not _LABEL_RE.match(label):
        raise TokenSetupError(
            f"token label {label!r} is not valid: use 1-32 letters, digits, '.', '_' or '-'"
        )
    util = shutil.which("softhsm2-util")
    if util is None:
        raise TokenSetupError("softhsm2-util is not installed (Debian package 'softhsm2')")
    if not module.exists():
        raise TokenSetupError(f"the SoftHSM2 module {module} does not exist")
    directory = directory.resolve()
    secrets_dir = (secrets_dir or directory.parent / "secrets").resolve()
    tokendir = directory / "tokens"
    tokendir.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf_path = directory / "softhsm2.conf"
    template = resources.files("softhsm_config").joinpath("softhsm2.conf.in").read_text("utf-8")
    _write_private(conf_path, template.format(tokendir=tokendir), mode=0o644)

    user_pin_file = secrets_dir / f"{label}.user-pin"
    so_pin_file = secrets_dir / f"{label}.so-pin"
    so_pin = so_pin or _read_pin(so_pin_file) or _new_pin()
    user_pin = user_pin or _read_pin(user_pin_file) or _new_pin()
    for name, pin in (("SO PIN", so_pin), ("user PIN", user_pin)):
        if not 4 <= len(pin) <= 255:
            raise TokenSetupError(f"the {name} must be 4 to 255 characters long")

    env = {**os.environ, "SOFTHSM2_CONF": str(conf_path)}
    created = False
    if label in _token_labels(util, env):
        _check_pins(module, label, user_pin=user_pin, so_pin=so_pin, env=env)
    else:
        _init_token(module, label, user_pin=user_pin, so_pin=so_pin, env=env)
        created = True
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(user_pin_file, user_pin + "\n")
    _write_private(so_pin_file, so_pin + "\n")
    return SoftHsmToken(conf_path, label, module, user_pin_file, so_pin_file, created)


def _new_pin() -> str:
    return "".join(secrets.choice(_PIN_ALPHABET) for _ in range(20))


def _read_pin(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` atomically to `path` with `mode`, never world-readable in between."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _token_labels(util: str, env: dict[str, str]) -> set[str]:
    result = subprocess.run(  # noqa: S603
        [util, "--show-slots"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise TokenSetupError(f"softhsm2-util --show-slots failed: {result.stderr.strip()}")
    labels = re.findall(r"^\s*Label:\s*(.*?)\s*$", result.stdout, flags=re.MULTILINE)
    return {label for label in labels if label}


def _init_token(
    module: Path, label: str, *, user_pin: str, so_pin: str, env: dict[str, str]
) -> None:
    """Initialise the token in a child process through PKCS#11, PINs on its stdin: with
    `softhsm2-util --init-token` they would sit in /proc/<pid>/cmdline for anyone to read."""
    request = json.dumps(
        {"module": str(module), "label": label, "user_pin": user_pin, "so_pin": so_pin}
    )
    result = subprocess.run(
        [sys.executable, "-m", "softhsm_config.init_token"],
        input=request,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TokenSetupError(f"could not create token {label!r}: {result.stderr.strip()}")


def _check_pins(
    module: Path, label: str, *, user_pin: str, so_pin: str, env: dict[str, str]
) -> None:
    """Log in with both PINs in a child process (PINs on stdin, never on the command line)."""
    request = json.dumps(
        {"module": str(module), "label": label, "user_pin": user_pin, "so_pin": so_pin}
    )
    result = subprocess.run(
        [sys.executable, "-m", "hsm.pincheck"],
        input=request,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TokenSetupError(
            f"a token labelled {label!r} already exists and {result.stderr.strip()}; "
            "it is left as it is (remove its directory to start again)"
        )
