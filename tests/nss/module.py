"""NSS softokn as a second PKCS#11 implementation for the tests (TESTING_NOTES.md).

softokn refuses `C_Initialize(NULL)`, which is all python-pkcs11 sends: it wants its
database directory in `CK_C_INITIALIZE_ARGS.pReserved`. `build_shim` compiles `shim.c`, a
PKCS#11 library that forwards every call to softokn and adds those arguments, taking the
directory from the environment variable `OTP_NSS_DB_DIR` when the module is initialised.
`create_nss_token` makes an NSS database with a user PIN; its `NssToken.env()` gives the
variables to set *before* the shim is first loaded in a process. softokn is initialised
once per process: a second shim file, or python-pkcs11's uncached `_pkcs11.lib`, gets
CKR_CRYPTOKI_ALREADY_INITIALIZED. To switch databases, `pkcs11.unload(module)` (which calls
C_Finalize), change the variable, and load again.

The keys live on the token labelled "NSS Certificate DB" (softokn's second slot); the first
slot ("NSS Generic Crypto Services") has no login and keeps session objects only.
Needs `cc` (Debian `gcc`), `libsoftokn3.so` (Debian `libnss3`) and, for the database,
`certutil` (Debian `libnss3-tools`; without it the PIN is set through PKCS#11 instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SHIM_SOURCE = Path(__file__).with_name("shim.c")
DB_DIR_VARIABLE = "OTP_NSS_DB_DIR"
SOFTOKN_VARIABLE = "OTP_NSS_SOFTOKN"
TOKEN_LABEL = "NSS Certificate DB"
"""The NSS token that keeps token objects and has a user PIN."""
CRYPTO_TOKEN_LABEL = "NSS Generic Crypto Services"
"""softokn's other token: no login, session objects only."""

_CFLAGS = ("-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden")
_LIBS = ("-ldl", "-lpthread")
_TIMEOUT = 120.0

Method = Literal["certutil", "pkcs11"]


class NssSetupError(Exception):
    """The shim could not be built or the NSS database could not be made."""


@dataclass(frozen=True)
class NssToken:
    """An NSS database and how to open its key token through the shim."""

    module: Path
    """The shim library: give it to `pkcs11.lib` (after setting `env()`)."""
    db_dir: Path
    token_label: str
    user_pin: str = field(repr=False)
    softokn: Path
    created_with: Method | None
    """How the PIN was set by this call (None: the database was there already)."""

    def env(self) -> dict[str, str]:
        """The environment variables the shim reads (set them before the first load)."""
        return {DB_DIR_VARIABLE: str(self.db_dir), SOFTOKN_VARIABLE: str(self.softokn)}


def find_softokn() -> Path | None:
    """NSS's softokn library: `$OTP_NSS_SOFTOKN`, else where Debian (or others) put it."""
    named = os.environ.get(SOFTOKN_VARIABLE)
    if named:
        return Path(named) if Path(named).is_file() else None
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    for candidate in (
        f"/usr/lib/{multiarch}/libsoftokn3.so",
        f"/usr/lib/{multiarch}/nss/libsoftokn3.so",
        "/usr/lib64/libsoftokn3.so",
        "/usr/lib/libsoftokn3.so",
    ):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def missing_prerequisites() -> list[str]:
    """What is missing to build and load the shim (empty: nothing)."""
    missing = []
    if shutil.which("cc") is None:
        missing.append("no C compiler `cc` (Debian package gcc)")
    if find_softokn() is None:
        missing.append("no libsoftokn3.so (Debian package libnss3)")
    return missing


def build_shim(build_dir: Path) -> Path:
    """Compile `shim.c` into `build_dir` (once per source, flags and softokn path).

    Returns:
        The path of the shared library.

    Raises:
        NssSetupError: no compiler, no softokn, or the compile failed.
    """
    missing = missing_prerequisites()
    if missing:
        raise NssSetupError("cannot build the NSS shim: " + "; ".join(missing))
    cc = shutil.which("cc")
    softokn = find_softokn()
    assert cc is not None and softokn is not None
    define = f'-DOTP_NSS_SOFTOKN_DEFAULT="{softokn}"'
    source = SHIM_SOURCE.read_bytes()
    digest = hashlib.sha256(
        b"\0".join([source, cc.encode(), define.encode(), *(f.encode() for f in _CFLAGS)])
    ).hexdigest()[:16]
    build_dir.mkdir(parents=True, exist_ok=True)
    target = build_dir / f"libotp-nss-shim-{digest}.so"
    if target.is_file():
        return target
    partial = build_dir / f".{target.name}.{os.getpid()}.tmp"
    result = subprocess.run(
        [cc, *_CFLAGS, define, "-o", str(partial), str(SHIM_SOURCE), *_LIBS],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise NssSetupError(f"cc failed on {SHIM_SOURCE}:\n{result.stderr.strip()}")
    os.replace(partial, target)  # atomic: concurrent builders agree on the same file
    return target


def create_nss_token(
    directory: Path,
    user_pin: str,
    *,
    build_dir: Path | None = None,
    method: Method | None = None,
) -> NssToken:
    """Make an NSS database in `directory` whose key token has `user_pin`.

    The PIN goes to certutil through a pipe (`-f /dev/fd/N`), or to a child Python process
    on its standard input (`method="pkcs11"`: C_Login as SO with the empty PIN of a new
    database, then C_InitPIN); it is on no command line and in no file. An existing
    database is kept if it opens with `user_pin`.

    Args:
        directory: the database directory (created if missing).
        user_pin: the user PIN (not empty: an NSS database without one needs no login).
        build_dir: where the shim is built (default: `directory/../nss-shim`).
        method: "certutil" (the default when installed) or "pkcs11".

    Raises:
        NssSetupError: something is missing, or an existing database refuses the PIN.
    """
    if not user_pin:
        raise NssSetupError("the user PIN must not be empty")
    directory = directory.resolve()
    if "'" in str(directory) or '"' in str(directory):
        raise NssSetupError(f"the NSS database path must not contain quotes: {directory}")
    module = build_shim(build_dir or directory.parent / "nss-shim")
    softokn = find_softokn()
    assert softokn is not None
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    certutil = shutil.which("certutil")
    method = method or ("certutil" if certutil else "pkcs11")
    token = NssToken(module, directory, TOKEN_LABEL, user_pin, softokn, None)
    if (directory / "key4.db").exists():
        _check_pin(token, certutil)
        return token
    if method == "certutil":
        if certutil is None:
            raise NssSetupError("certutil is not installed (Debian package libnss3-tools)")
        result = _certutil(certutil, ["-N", "-d", f"sql:{directory}"], user_pin)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise NssSetupError(f"certutil could not create the database: {output}")
    else:
        _init_pin_through_pkcs11(token)
    return NssToken(module, directory, TOKEN_LABEL, user_pin, softokn, method)


def _certutil(certutil: str, arguments: list[str], pin: str) -> subprocess.CompletedProcess[str]:
    """Run certutil with `-f` reading `pin` from a pipe."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, pin.encode() + b"\n")
        os.close(write_end)
        write_end = -1
        result = subprocess.run(
            [certutil, *arguments, "-f", f"/dev/fd/{read_end}"],
            pass_fds=(read_end,),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    return result


def _check_pin(token: NssToken, certutil: str | None) -> None:
    """An existing database must open with the PIN asked for."""
    if certutil is None:
        refused = _run_child(token, "login").returncode != 0
    else:
        # `certutil -K` lists the keys after logging in; it exits 255 when there are none
        result = _certutil(certutil, ["-K", "-d", f"sql:{token.db_dir}"], token.user_pin)
        output = result.stdout + result.stderr
        refused = result.returncode != 0 and "no keys found" not in output
    if refused:
        raise NssSetupError(f"the NSS database in {token.db_dir} refuses this PIN")


_CHILD = """
import json, sys
import pkcs11
request = json.loads(sys.stdin.read())
token = pkcs11.lib(request["module"]).get_token(token_label=request["label"])
if request["action"] == "init-pin":
    with token.open(rw=True, so_pin="") as session:
        session.init_pin(request["pin"])
with token.open(user_pin=request["pin"]):
    pass
"""


def _run_child(token: NssToken, action: str) -> subprocess.CompletedProcess[str]:
    request = {
        "module": str(token.module),
        "label": token.token_label,
        "pin": token.user_pin,
        "action": action,
    }
    return subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(request),
        env={**os.environ, **token.env()},
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )


def _init_pin_through_pkcs11(token: NssToken) -> None:
    """Set the user PIN of a new database through the shim, in a child process (this
    process may not initialise the shim for another directory later)."""
    result = _run_child(token, "init-pin")
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:] or ["no reason given"]
        raise NssSetupError(f"setting the NSS user PIN through PKCS#11 failed: {last[0]}")
