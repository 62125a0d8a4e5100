"""`softhsm-token init`: a token in one command, idempotent, never overwriting other PINs."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from softhsm_config import TokenSetupError, create_token


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


def test_command_line(tmp_path: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "softhsm_config",
        "init",
        "--dir",
        str(tmp_path / "hsm"),
        "--label",
        "cli",
        "--secrets-dir",
        str(tmp_path / "secrets"),
    ]
    first = subprocess.run(args, capture_output=True, text=True, check=True)
    assert "token 'cli' created" in first.stdout
    assert f"SOFTHSM2_CONF={tmp_path / 'hsm' / 'softhsm2.conf'}" in first.stdout
    second = subprocess.run(args, capture_output=True, text=True, check=True)
    assert "already present, PINs checked" in second.stdout
    pin = (tmp_path / "secrets" / "cli.user-pin").read_text().strip()
    assert pin not in first.stdout + first.stderr + second.stdout + second.stderr
    bad = subprocess.run([*args, "--pin", "other-pin-1"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "user PIN is refused" in bad.stderr
    assert "other-pin-1" not in bad.stderr
