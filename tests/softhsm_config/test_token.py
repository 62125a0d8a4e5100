"""`softhsm-token init`: a token in one command, idempotent, never overwriting other PINs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from softhsm_config import TokenSetupError, create_token
from softhsm_config.cli import main
from softhsm_config.init_token import InitError, padded_label
from softhsm_config.token import SOFTHSM_MODULE
from tests.cli.in_process import Ran, run_in_process


def test_creates_token_with_generated_pins_in_private_files(tmp_path: Path) -> None:
    token = create_token(tmp_path / "hsm", "fresh", secrets_dir=tmp_path / "secrets")
    assert token.created
    assert token.conf_path.read_text().count(str(tmp_path / "hsm" / "tokens")) == 1
    for pin_file in (token.user_pin_file, token.so_pin_file):
        assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600
        assert len(pin_file.read_text().strip()) == 20
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert token.user_pin() != token.so_pin_file.read_text().strip()


def test_second_run_checks_pins_and_keeps_the_token(tmp_path: Path) -> None:
    first = create_token(tmp_path / "hsm", "again", secrets_dir=tmp_path / "secrets")
    token_files = sorted(p.name for p in (tmp_path / "hsm" / "tokens").rglob("*"))
    second = create_token(tmp_path / "hsm", "again", secrets_dir=tmp_path / "secrets")
    assert not second.created
    assert second.user_pin() == first.user_pin()
    assert sorted(p.name for p in (tmp_path / "hsm" / "tokens").rglob("*")) == token_files


def test_refuses_a_token_with_other_pins(tmp_path: Path) -> None:
    create_token(
        tmp_path / "hsm",
        "mine",
        user_pin="1111-2222",
        so_pin="3333-4444",
        secrets_dir=tmp_path / "secrets",
    )
    with pytest.raises(TokenSetupError, match="already exists and the user PIN is refused"):
        create_token(
            tmp_path / "hsm",
            "mine",
            user_pin="9999-9999",
            so_pin="3333-4444",
            secrets_dir=tmp_path / "secrets",
        )
    with pytest.raises(TokenSetupError, match="the SO PIN is refused"):
        create_token(
            tmp_path / "hsm",
            "mine",
            user_pin="1111-2222",
            so_pin="0000-0000",
            secrets_dir=tmp_path / "secrets",
        )
    # the PIN files still hold the PINs that open the token
    assert (tmp_path / "secrets" / "mine.user-pin").read_text().strip() == "1111-2222"


@pytest.mark.parametrize("label", ["", "has space", "x" * 33, "ünïcode"])
def test_invalid_labels_are_refused(tmp_path: Path, label: str) -> None:
    with pytest.raises(TokenSetupError, match="not valid"):
        create_token(tmp_path / "hsm", label, secrets_dir=tmp_path / "secrets")


def test_short_pin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenSetupError, match="4 to 255"):
        create_token(tmp_path / "hsm", "shortpin", user_pin="123", secrets_dir=tmp_path / "s")


def _softhsm_token(*args: str, **options: Any) -> Ran:
    """`softhsm-token ARGS` in this process: it makes tokens through softhsm2-util and a child
    (`softhsm_config.init_token`), never loading the PKCS#11 module here."""
    return run_in_process(main, args, **options)


def test_command_line(tmp_path: Path) -> None:
    args = [
        "init",
        "--dir",
        str(tmp_path / "hsm"),
        "--label",
        "cli",
        "--secrets-dir",
        str(tmp_path / "secrets"),
    ]
    first = _softhsm_token(*args)
    assert first.returncode == 0, first.stderr
    assert "token 'cli' created" in first.stdout
    assert f"SOFTHSM2_CONF={tmp_path / 'hsm' / 'softhsm2.conf'}" in first.stdout
    second = _softhsm_token(*args)
    assert second.returncode == 0, second.stderr
    assert "already present, PINs checked" in second.stdout
    pin = (tmp_path / "secrets" / "cli.user-pin").read_text().strip()
    assert pin not in first.stdout + first.stderr + second.stdout + second.stderr
    other = tmp_path / "other-pin"
    other.write_text("other-pin-1\n")
    bad = _softhsm_token(*args, "--pin-file", str(other))
    assert bad.returncode == 1
    assert "user PIN is refused" in bad.stderr
    assert "other-pin-1" not in bad.stderr
    from_stdin = _softhsm_token(*args, "--pin-file", "-", stdin="other-pin-2\n")
    assert from_stdin.returncode == 1
    assert "user PIN is refused" in from_stdin.stderr


def test_command_line_takes_no_pin_as_an_argument(tmp_path: Path) -> None:
    """A PIN given as an argument would be readable by every local user in /proc."""
    bad = _softhsm_token("init", "--dir", str(tmp_path), "--pin", "x1y2z3")
    assert bad.returncode == 2
    assert "No such option '--pin'" in bad.stderr
    assert "x1y2z3" not in bad.stderr + bad.stdout


def test_pins_from_the_environment(tmp_path: Path) -> None:
    env = {"SOFTHSM_USER_PIN": "env-user-1", "SOFTHSM_SO_PIN": "env-so-1"}
    args = ["init", "--dir", str(tmp_path / "hsm")]
    made = _softhsm_token(*args, "--label", "env", "--secrets-dir", str(tmp_path / "s"), env=env)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "s" / "env.user-pin").read_text().strip() == "env-user-1"
    assert (tmp_path / "s" / "env.so-pin").read_text().strip() == "env-so-1"


def test_no_pin_on_any_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker is any local user reading /proc/<pid>/cmdline while the token is made:
    every program started is run through a recorder on PATH, and its arguments are searched
    for the PINs."""
    recorder = tmp_path / "bin"
    recorder.mkdir()
    argv_log = tmp_path / "argv.log"
    real = shutil.which("softhsm2-util")
    assert real is not None
    for tool in ("softhsm2-util", "pkcs11-tool"):
        target = shutil.which(tool) or "/bin/false"
        script = recorder / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {argv_log}\nexec {target} "$@"\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{recorder}:{os.environ['PATH']}")
    token = create_token(
        tmp_path / "hsm",
        "watched",
        user_pin="user-pin-4711",
        so_pin="so-pin-0815",
        secrets_dir=tmp_path / "secrets",
    )
    assert token.created
    recorded = argv_log.read_text()
    assert "softhsm2-util" in recorded  # the recorder is the one that ran
    assert "user-pin-4711" not in recorded
    assert "so-pin-0815" not in recorded
    # and the token really has those PINs: the second run logs in with both
    again = create_token(
        tmp_path / "hsm",
        "watched",
        user_pin="user-pin-4711",
        so_pin="so-pin-0815",
        secrets_dir=tmp_path / "secrets",
    )
    assert not again.created


def test_init_child_reports_failures_without_pins(tmp_path: Path) -> None:
    """A PIN the module refuses (longer than SoftHSM's 255) fails with the call named. The
    child is a process of its own by design: it loads SoftHSM on the new token's
    configuration, which a process that loaded it already would not read."""
    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    request = json.dumps(
        {"module": str(SOFTHSM_MODULE), "label": "x", "so_pin": "s" * 300, "user_pin": "u" * 8}
    )
    result = subprocess.run(
        [sys.executable, "-m", "softhsm_config.init_token"],
        input=request,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "C_InitToken failed: CKR_PIN_" in result.stderr
    assert "sss" not in result.stderr
    garbage = subprocess.run(
        [sys.executable, "-m", "softhsm_config.init_token"],
        input="not json",
        capture_output=True,
        text=True,
    )
    assert garbage.returncode == 1
    assert "not the JSON object expected" in garbage.stderr


def test_label_is_padded_for_c_inittoken() -> None:
    assert padded_label("otp") == b"otp" + b" " * 29
    with pytest.raises(InitError):
        padded_label("x" * 33)
