"""What the extraction proof finds on NSS softokn, attempt by attempt, as docs/hsm.md's
table says, and what the officer's `otp-admin hsm status` makes of it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hsm import Hsm
from tests.nss.module import NssToken

NSS_TABLE = {
    "unwrap-readable": (False, "gave the seed's value"),
    "unwrap-extractable": (False, "gave the seed's value"),
    "wrap-out": (False, "gave the seed's value"),
    "copy-changed": (False, "a copy became EXTRACTABLE=true"),
    "kek-decrypt": (False, "gave the seed's value"),
    "kek-wrap-out": (False, "gave the KEK's value"),
    "unwrap-to-token": (False, "a seed object was stored on the token"),
    "user-trusted-key": (False, "the user's session created a trusted key"),
    "key-store-readable": (False, "this process reads the module's key database "),
    "no-stray-kek": (True, "none"),
}
"""docs/hsm.md, "What the HSM enforces": NSS softokn 3.87.1's column (`attributes` below)."""


@pytest.mark.parametrize("guarantee", sorted(NSS_TABLE))
def test_each_attempt_on_nss_gets_what_the_table_says(nss_hsm: Hsm, guarantee: str) -> None:
    held, detail = NSS_TABLE[guarantee]
    found = [a for a in nss_hsm.prove_extraction().attempts if a.guarantee == guarantee]
    assert found, guarantee
    assert all((a.held, a.detail[: len(detail)]) == (held, detail) for a in found), found


def test_on_nss_only_the_untrusted_kek_fails_the_attribute_check(nss_hsm: Hsm) -> None:
    attributes = {
        a.subject: a for a in nss_hsm.prove_extraction().attempts if a.guarantee == "attributes"
    }
    failed = {subject: a.detail for subject, a in attributes.items() if not a.held}
    # softokn has no CKA_TRUSTED on a secret key (CKR_ATTRIBUTE_TYPE_INVALID)
    assert failed == {"otp-kek-v1": "reads back TRUSTED=?"}


def test_the_officers_status_on_nss_fails_and_lists_what_is_allowed(
    nss_token: NssToken, nss_hsm: Hsm, tmp_path: Path, migrated_database: Path
) -> None:
    shutil.copyfile(migrated_database, tmp_path / "otp.sqlite3")
    env = {
        **os.environ,
        **nss_token.env(),
        "OTP_DATABASE_URL": f"sqlite:///{tmp_path}/otp.sqlite3",
        "OTP_HSM_MODULE": str(nss_token.module),
        "OTP_HSM_TOKEN_LABEL": nss_token.token_label,
        "OTP_HSM_PIN": nss_token.user_pin,
        "OTP_HSM_KEK_WITHOUT_OFFICER": "true",
        "OTP_HSM_ACCEPT_WEAKNESSES": "",
        "OTP_LOG_LEVEL": "warning",
    }
    status = subprocess.run(
        [sys.executable, "-m", "server.cli", "hsm", "status"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode != 0, status.stdout
    assert "Traceback" not in status.stderr, status.stderr
    allowed = {
        match.group(1)
        for match in re.finditer(r"^ +ALLOWED +([a-z-]+) ", status.stdout, re.MULTILINE)
    }
    broken = {g for g, (held, _) in NSS_TABLE.items() if not held} | {"attributes"}
    assert allowed == broken, status.stdout
    assert "problem: " in status.stderr and "wrap-out" in status.stderr
    assert (
        "RFC 5649 wrap: AES_KEY_WRAP_KWP (AES_KEY_WRAP_PAD: other output, "
        "AES_KEY_WRAP_KWP: rfc5649)" in status.stdout
    )
    assert "ok      AES_KEY_GEN + AES_KEY_WRAP_KWP" in status.stdout
