"""Known seeds from other systems: the period stated and chosen, and 80-bit seeds only by
an explicit, audited policy.

oathtool and most authenticator apps default to a 30 s step, this product's tokens to 60 s;
older hardware tokens ship 80-bit seeds where RFC 4226 asks for 128. Codes are checked
against oathtool's own defaults, not our arithmetic."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from pskc import PSKC

from hsm import Algorithm, Hsm, WrappedSeed
from server.db.models import Credential
from tests.officer.conftest import AdminRun, audit_events, stored_credentials

SHORT_SEED = bytes.fromhex("3132333435363738393a")  # 80 bits
TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"


def _oathtool_default_totp(seed: bytes, unix_time: int) -> str:
    """oathtool's TOTP with every option at its default (SHA-1, 6 digits, 30 s)."""
    out = subprocess.run(
        ["oathtool", "--totp", "-N", f"@{unix_time}", seed.hex()],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _events(database_url: str, action: str) -> list[dict[str, object]]:
    """The details of each audit event of exactly `action`."""
    events = audit_events(database_url, action)
    return [json.loads(event.details) for event in events if event.action == action]


def _code_now(hsm: Hsm, row: Credential, unix_time: int) -> str:
    wrapped = WrappedSeed(row.wrapped_seed, row.kek_version, row.seed_length)
    (code,) = hsm.otp_values(
        wrapped, Algorithm(row.algorithm), row.digits, [unix_time // row.period]
    )
    return code


def test_credential_import_says_its_period_and_its_help_names_oathtools(
    main_admin: AdminRun, database_url: str, hsm: Hsm
) -> None:
    help_text = main_admin("credential", "import", "--help").stdout
    assert "oathtool" in help_text and "60" in help_text and "30" in help_text
    main_admin("customer", "add", "olga", "--email", "olga@example.com")
    seed = bytes(range(20))

    default = main_admin("credential", "import", "olga", stdin=seed.hex()).stdout
    assert re.search(r"imported for 'olga': totp SHA1 6 digits, period 60 s$", default.strip())
    chosen = main_admin("credential", "import", "olga", "--period", "30", stdin=seed.hex()).stdout
    assert "period 30 s" in chosen

    now = int(time.time())
    sixty, thirty = stored_credentials(database_url)
    assert (sixty.period, thirty.period) == (60, 30)
    assert _code_now(hsm, thirty, now) == _oathtool_default_totp(seed, now)
    # the 60 s credential is not what oathtool's defaults compute (unless by chance, 1 in 10^6
    # per pair of steps: try two moments a minute apart)
    assert any(
        _code_now(hsm, sixty, moment) != _oathtool_default_totp(seed, moment)
        for moment in (now, now + 60)
    )


def test_an_80_bit_seed_needs_the_policy_flag_and_the_audit_records_it(
    main_admin: AdminRun, database_url: str, hsm: Hsm
) -> None:
    main_admin("customer", "add", "omar", "--email", "omar@example.com")
    refused = main_admin("credential", "import", "omar", stdin=SHORT_SEED.hex(), ok=False)
    assert "16 to 128 bytes long, not 10" in refused.stderr
    assert "short-seed policy" in refused.stderr
    assert SHORT_SEED.hex() not in refused.stderr + refused.stdout
    assert stored_credentials(database_url) == []

    result = main_admin(
        "credential",
        "import",
        "omar",
        "--period",
        "30",
        "--allow-short-seed",
        stdin=SHORT_SEED.hex(),
    )
    assert "SHORT SEED (80 bits, audited)" in result.stdout
    (row,) = stored_credentials(database_url)
    now = int(time.time())
    assert _code_now(hsm, row, now) == _oathtool_default_totp(SHORT_SEED, now)
    (event,) = _events(database_url, "credential.import")
    assert event["seed_bits"] == 80 and event["short_seed_policy"] == "allowed"
    assert event["period"] == 30

    # below 80 bits nothing opens the door
    tiny = main_admin(
        "credential", "import", "omar", "--allow-short-seed", stdin="00" * 9, ok=False
    )
    assert "10 to 128 bytes long, not 9" in tiny.stderr


def _short_seed_file(tmp_path: Path) -> Path:
    container = PSKC()
    container.add_key(serial="OLD-80", secret=SHORT_SEED, algorithm=TOTP, response_length=6)
    container.add_key(serial="NEW-160", secret=bytes(range(20)), algorithm=TOTP, response_length=6)
    path = tmp_path / "old-tokens.pskcxml"
    container.write(str(path))
    return path


def test_a_pskc_batch_with_80_bit_seeds_needs_the_policy_flag(
    main_admin: AdminRun, database_url: str, hsm: Hsm, tmp_path: Path
) -> None:
    args = ("pskc", "import", str(_short_seed_file(tmp_path)), "--allow-plaintext", "--unassigned")
    refused = main_admin(*args, ok=False)
    assert re.search(r"REJECTED +OLD-80 .*10 bytes; 16 to 128 are accepted", refused.stdout)
    assert "--allow-short-seeds" in refused.stdout
    assert stored_credentials(database_url) == []

    result = main_admin(*args, "--allow-short-seeds")
    assert re.search(r"ok +OLD-80 .*SHORT SEED 80 bits", result.stdout)
    assert "SHORT SEED" not in next(
        line for line in result.stdout.splitlines() if "NEW-160" in line
    )
    old, new = stored_credentials(database_url)
    now = int(time.time())
    assert _code_now(hsm, old, now) == _oathtool_default_totp(SHORT_SEED, now)
    assert _code_now(hsm, new, now) == _oathtool_default_totp(bytes(range(20)), now)
    by_serial = {e["serial"]: e for e in _events(database_url, "credential.import")}
    assert by_serial["OLD-80"]["short_seed_policy"] == "allowed"
    assert "short_seed_policy" not in by_serial["NEW-160"]
    (batch,) = _events(database_url, "credential.import-batch")
    assert batch["short_seeds"] == 1
