"""Every console script as a program, once: it starts, `--help` works, and one real action
succeeds (each package's `python -m` runs the same command). `otp-hsm` against the test token,
in this process (tests/cli/in_process.py); it prints the provisioning key tokens are
configured with."""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import click
import httpx
import pytest
import structlog
from click.testing import CliRunner

from device_firmware.link.signing import b64url
from hsm import Hsm
from hsm.cli import main as otp_hsm
from server.__main__ import main as otp_server
from server.cli.admin import main as otp_admin
from server.db.migrate import upgrade
from softhsm_config.cli import main as softhsm_token
from tests.cli.in_process import Ran, run_in_process
from tests.conftest import SOFTHSM_ACCEPTED, SoftHsmTokens
from tests.server.processes import free_port, server_env, wait_for

SCRIPTS = Path(sys.executable).parent
"""Where the virtual environment installed the console scripts of pyproject.toml."""


def _script(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script `name`, as a user runs it."""
    return subprocess.run(
        [str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def _helps(name: str) -> None:
    result = _script(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


@pytest.mark.slow  # a process per console script: `make test` runs it
def test_softhsm_token_runs_and_makes_a_token(tmp_path: Path) -> None:
    _helps("softhsm-token")
    made = _script(
        "softhsm-token", "init", "--dir", str(tmp_path / "hsm"), "--label", "smoke",
        "--secrets-dir", str(tmp_path / "secrets"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "token 'smoke' created" in made.stdout
    assert (tmp_path / "secrets" / "smoke.user-pin").is_file()


@pytest.mark.slow  # a process per console script: `make test` runs it
def test_otp_hsm_runs_and_reads_the_token(tokens: SoftHsmTokens, hsm: Hsm) -> None:
    _helps("otp-hsm")
    key = _script(
        "otp-hsm", "--module", str(tokens.main.module), "--token-label", tokens.main.label,
        "provisioning-key",
        env={**tokens.main.env, "OTP_HSM_PIN_FILE": str(tokens.main.user_pin_file)},
    )  # fmt: skip
    assert key.returncode == 0, key.stderr
    assert key.stdout.strip() == b64url(hsm.provisioning_public_key()[1])


@pytest.mark.slow  # a process per console script: `make test` runs it
def test_otp_admin_runs_and_migrates_a_database(tokens: SoftHsmTokens, tmp_path: Path) -> None:
    _helps("otp-admin")
    url = f"sqlite:///{tmp_path}/otp.sqlite3"
    migrated = _script("otp-admin", "db", "upgrade", env=server_env(tokens, url))
    assert migrated.returncode == 0, migrated.stderr
    assert "database is at the newest schema" in migrated.stdout
    assert (tmp_path / "otp.sqlite3").stat().st_size > 0


@pytest.mark.slow  # a process per console script: `make test` runs it
def test_otp_server_runs_and_answers(tokens: SoftHsmTokens, hsm: Hsm, tmp_path: Path) -> None:
    _helps("otp-server")
    url = f"sqlite:///{tmp_path}/otp.sqlite3"
    upgrade(url)
    port = free_port()
    process = subprocess.Popen(
        [str(SCRIPTS / "otp-server"), "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **server_env(tokens, url), "OTP_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health/live")
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=20)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("module", "command"),
    [
        ("softhsm_config", softhsm_token),
        ("hsm", otp_hsm),
        ("server", otp_server),
        ("server.cli", otp_admin),
    ],
)
def test_python_m_runs_the_console_script(
    module: str,
    command: click.Command,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m MODULE --help`, in this process: its `__main__` runs the same command."""
    main_file = Path(str(importlib.import_module(module).__file__)).with_name("__main__.py")
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(main_file), run_name="__main__")
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Usage:" in out
    summary = (command.help or "").split("\n\n")[0]
    assert summary and " ".join(summary.split()) in " ".join(out.split())


def _otp_hsm(tokens: SoftHsmTokens, *args: str, **env: str | None) -> Ran:
    """`otp-hsm --token-label otp-test ARGS` in this process, with the token's PIN file."""
    environment: dict[str, str | None] = {
        "OTP_HSM_PIN": None,
        "OTP_HSM_PIN_FILE": str(tokens.main.user_pin_file),
        "OTP_HSM_ACCEPT_WEAKNESSES": ",".join(SOFTHSM_ACCEPTED),
        **env,
    }
    return run_in_process(otp_hsm, ["--token-label", tokens.main.label, *args], env=environment)


def test_otp_hsm_init_keys_and_status(tokens: SoftHsmTokens, hsm: object) -> None:
    assert _otp_hsm(tokens, "init-keys").stdout.strip() == "all keys present"
    status = _otp_hsm(tokens, "status")
    assert status.returncode == 0, status.stderr
    assert "otp-kek-v1" in status.stdout
    assert "sensitive, not extractable" in status.stdout
    assert re.search(r"refused +wrap-out +otp-kek-v1 +refused: KeyUnextractable", status.stdout)
    # the one way out on SoftHSM, accepted for testing; nothing else
    allowed = [line for line in status.stdout.splitlines() if "ALLOWED" in line]
    assert len(allowed) == 1 and "ALLOWED (accepted)  key-store-readable" in allowed[0]


def test_otp_hsm_reports_a_wrong_token_clearly(tokens: SoftHsmTokens) -> None:
    result = run_in_process(
        otp_hsm,
        ["--token-label", "missing", "status"],
        env={**tokens.main.env, "OTP_HSM_PIN": "1234"},
    )
    assert result.returncode == 1
    assert "no token labelled 'missing'" in result.stderr
    assert "Traceback" not in result.stderr


def test_otp_hsm_status_fails_on_a_weakness_nobody_accepted(
    tokens: SoftHsmTokens, hsm: object
) -> None:
    status = _otp_hsm(tokens, "status", OTP_HSM_ACCEPT_WEAKNESSES="")
    assert status.returncode == 1
    assert re.search(r"ALLOWED +key-store-readable +token +this process reads", status.stdout)
    assert "problem: seeds can leave this HSM: key-store-readable" in status.stderr


def test_otp_hsm_prints_the_provisioning_key_tokens_are_configured_with(
    tokens: SoftHsmTokens, hsm: Hsm
) -> None:
    """In process: the key and its fingerprint, as the server publishes them and as a token
    (`make token`, a Pi's configuration) reads them."""
    from device_firmware.link import ProvisioningKey, ProvisioningTrust
    from device_firmware.link.signing import b64url
    from hsm.cli import main

    _version, point = hsm.provisioning_public_key()
    runner = CliRunner()
    options = ["--module", str(tokens.main.module), "--token-label", tokens.main.label]
    env = {"OTP_HSM_PIN_FILE": str(tokens.main.user_pin_file), "OTP_HSM_PIN": None}
    logging_config = structlog.get_config()  # `main` configures structlog for the process
    try:
        key = runner.invoke(main, [*options, "provisioning-key"], env=env)
        fingerprint = runner.invoke(main, [*options, "provisioning-key", "--fingerprint"], env=env)
        missing = runner.invoke(
            main, ["--module", str(tokens.main.module), "--token-label", "missing",
                   "provisioning-key"], env={"OTP_HSM_PIN": "1234"},
        )  # fmt: skip
    finally:
        structlog.configure(**logging_config)
    assert key.exit_code == 0, key.output
    assert key.output.strip() == b64url(point)  # the public_key of /api/v1/provisioning-key
    assert fingerprint.exit_code == 0, fingerprint.output
    assert fingerprint.output.strip() == hashlib.sha256(point).hexdigest()
    assert ProvisioningTrust.parse(key.output) == ProvisioningTrust.of_key(ProvisioningKey(point))
    assert ProvisioningTrust.parse(fingerprint.output).accepts(ProvisioningKey(point))
    assert missing.exit_code == 1
    assert "no token labelled 'missing'" in missing.output
    assert tokens.main.user_pin() not in key.output + fingerprint.output + missing.output
