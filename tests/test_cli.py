"""Every console script answers --help; `otp-hsm` works against the test token (and prints
the provisioning key tokens are configured with)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import pytest
import structlog
from click.testing import CliRunner

from hsm import Hsm
from tests.conftest import SOFTHSM_ACCEPTED, SoftHsmTokens


@pytest.mark.parametrize(
    "module",
    ["softhsm_config", "hsm", "server"],
)
def test_help(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def _otp_hsm(tokens: SoftHsmTokens, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **tokens.main.env,
        "OTP_HSM_PIN_FILE": str(tokens.main.user_pin_file),
        "OTP_HSM_ACCEPT_WEAKNESSES": ",".join(SOFTHSM_ACCEPTED),
    }
    return subprocess.run(
        [sys.executable, "-m", "hsm", "--token-label", tokens.main.label, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


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
    result = subprocess.run(
        [sys.executable, "-m", "hsm", "--token-label", "missing", "status"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **tokens.main.env, "OTP_HSM_PIN": "1234"},
    )
    assert result.returncode == 1
    assert "no token labelled 'missing'" in result.stderr
    assert "Traceback" not in result.stderr


def test_otp_hsm_status_fails_on_a_weakness_nobody_accepted(
    tokens: SoftHsmTokens, hsm: object
) -> None:
    env = {
        **os.environ,
        **tokens.main.env,
        "OTP_HSM_PIN_FILE": str(tokens.main.user_pin_file),
        "OTP_HSM_ACCEPT_WEAKNESSES": "",
    }
    status = subprocess.run(
        [sys.executable, "-m", "hsm", "--token-label", tokens.main.label, "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
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
