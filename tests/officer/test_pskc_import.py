"""`otp-admin pskc import` end to end: seeds into the HSM, codes accepted by the verify API,
all or nothing, unassigned stock assigned later."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from litestar.testing import TestClient

from hsm import Algorithm, Hsm, WrappedSeed
from server.app import create_app
from server.domain.verification.purposes import Purpose
from tests.officer.conftest import AdminRun, audit_events, stored_credentials
from tests.oracles import VECTORS, load_vectors
from tests.server.conftest import fast_settings, make_client_key

PSKC_DIR = VECTORS / "pskc"
HOTP_8 = [value for _, value in load_vectors("pskc/rfc6030-hotp.txt")]
SEEDS = {row[0]: row for row in load_vectors("pskc/batch-psk.seeds")}
BATCH = PSKC_DIR / "batch-psk.pskcxml"
BATCH_KEY = ("--key-file", str(PSKC_DIR / "batch-psk.key"))
IMPORT_BATCH = ("pskc", "import", str(BATCH), *BATCH_KEY)


@pytest.fixture
def api(hsm: Hsm, database_url: str) -> Iterator[tuple[TestClient, str]]:  # type: ignore[type-arg]
    """The verify API in this process, on the main token and the test's database."""
    app = create_app(fast_settings(database_url), hsm=hsm)
    key = make_client_key(app.state.services, "netbank", list(Purpose))
    with TestClient(app) as client:
        yield client, key


def _verify(api: tuple[TestClient, str], username: str, code: str) -> str:  # type: ignore[type-arg]
    client, key = api
    response = client.post(
        "/api/v1/verify",
        headers={"Authorization": f"Bearer {key}"},
        json={"username": username, "code": code, "purpose": "login"},
    )
    return str(response.json()["result"])


@pytest.mark.parametrize(
    ("figure", "secret_option"),
    [("figure6", "--key-file"), ("figure7", "--password-file")],
)
def test_rfc6030_figures_import_and_give_the_expected_hotp_values(
    main_admin: AdminRun,
    hsm: Hsm,
    database_url: str,
    api: tuple[TestClient, str],  # type: ignore[type-arg]
    figure: str,
    secret_option: str,
) -> None:
    main_admin("customer", "add", "alice", "--email", "alice@example.com")
    secret = PSKC_DIR / f"rfc6030-{figure}.{'key' if figure == 'figure6' else 'password'}"
    result = main_admin(
        "pskc",
        "import",
        str(PSKC_DIR / f"rfc6030-{figure}.pskcxml"),
        secret_option,
        "-",
        "--assign",
        "987654321=alice",
        stdin=secret.read_text(),
    )
    assert "imported 1 token(s)" in result.stdout
    assert "1234567890" not in result.stdout + result.stderr
    (row,) = stored_credentials(database_url)
    assert (row.serial, row.kind, row.digits, row.status) == ("987654321", "hotp", 8, "active")
    # an imported token signs no transfers (yet): no OCRA seed is made for it
    assert (row.ocra_suite, row.ocra_wrapped_seed, row.ocra_seed_length) == (None, None, None)
    sealed = WrappedSeed(row.wrapped_seed, row.kek_version, row.seed_length)
    assert hsm.otp_values(sealed, Algorithm.SHA1, 8, range(10)) == HOTP_8
    # the bank's login accepts the token's codes, each once
    assert _verify(api, "alice", HOTP_8[0]) == "accepted"
    assert _verify(api, "alice", HOTP_8[0]) == "rejected"
    assert _verify(api, "alice", HOTP_8[2]) == "accepted"  # look-ahead window


@pytest.mark.parametrize("what", ["mac", "ciphertext"])
def test_one_altered_byte_imports_nothing(
    main_admin: AdminRun, database_url: str, tmp_path: Path, what: str
) -> None:
    text = BATCH.read_text()
    if what == "mac":
        target = re.findall(r"<pskc:ValueMAC>([^<]+)</pskc:ValueMAC>", text)[1]
    else:
        target = re.findall(r"<xenc:CipherValue>([^<]+)</xenc:CipherValue>", text)[2]
    raw = bytearray(base64.b64decode(target))
    raw[-5] ^= 0x80
    bad = tmp_path / "altered.pskcxml"
    bad.write_text(text.replace(target, base64.b64encode(bytes(raw)).decode()))
    result = main_admin("pskc", "import", str(bad), *BATCH_KEY, "--unassigned", ok=False)
    assert result.returncode == 1
    assert re.search(r"ok +ACME-0001", result.stdout)
    assert re.search(r"ok +ACME-0003", result.stdout)
    assert re.search(r"REJECTED +ACME-0002 .*(MAC check failed|cannot decrypt)", result.stdout)
    assert "nothing imported" in result.stderr
    assert stored_credentials(database_url) == []
    assert audit_events(database_url, "credential.") == []


def test_dry_run_stores_nothing(main_admin: AdminRun, database_url: str) -> None:
    result = main_admin(*IMPORT_BATCH, "--unassigned", "--dry-run")
    assert "dry run: 3 token(s) would be imported" in result.stdout
    assert "hotp SHA1 6 digits counter 5" in result.stdout
    assert "totp SHA256 8 digits period 60s" in result.stdout
    assert stored_credentials(database_url) == [] and audit_events(database_url, "") == []


def test_unassigned_stock_is_assigned_later_and_then_verifies(
    main_admin: AdminRun,
    database_url: str,
    tmp_path: Path,
    api: tuple[TestClient, str],  # type: ignore[type-arg]
) -> None:
    main_admin("customer", "add", "bob", "--email", "bob@example.com")
    assignments = tmp_path / "assign.csv"
    assignments.write_text("# serial,username\nACME-0001, bob\n")
    imported = main_admin(*IMPORT_BATCH, "--assign-file", str(assignments), "--unassigned").stdout
    assert re.search(r"ACME-0001 +cred_\w+ +bob", imported)
    assert re.search(r"ACME-0003 +cred_\w+ +unassigned", imported)
    stock = main_admin("credential", "list", "--unassigned").stdout
    assert "ACME-0002" in stock and "ACME-0003" in stock and "ACME-0001" not in stock

    serial, _, _, digits, period, seed_hex = SEEDS["ACME-0003"]
    totp = pyotp.TOTP(
        base64.b32encode(bytes.fromhex(seed_hex)).decode(),
        digits=int(digits),
        interval=int(period),
        digest="sha256",
    )
    assert _verify(api, "~unassigned", totp.now()) == "rejected"  # stock never verifies
    main_admin("credential", "assign", serial, "bob")
    assert _verify(api, "bob", totp.now()) == "accepted"
    assert (
        "no unassigned token" in main_admin("credential", "assign", serial, "bob", ok=False).stderr
    )

    again = main_admin(*IMPORT_BATCH, "--unassigned", ok=False)
    assert again.stdout.count("serial already imported") == 3
    assert len(stored_credentials(database_url)) == 3
    actions = sorted(e.action for e in audit_events(database_url, "credential."))
    assert actions == ["credential.assign", *["credential.import"] * 3, "credential.import-batch"]


def test_every_key_needs_a_customer_unless_kept_as_stock(
    main_admin: AdminRun, database_url: str
) -> None:
    args = ["pskc", "import", str(BATCH)]
    key = BATCH_KEY
    result = main_admin(*args, *key, "--assign", "ACME-0001=nobody", ok=False)
    assert "no customer 'nobody'" in result.stdout
    assert "no customer for serial(s) ACME-0002, ACME-0003" in result.stdout
    result = main_admin(*args, *key, "--assign", "ACME-9999=x", "--unassigned", ok=False)
    assert "assigned serials not in the file: ACME-9999" in result.stdout
    assert "is not valid hex" in main_admin(*args, "--key-file", "-", stdin="zz", ok=False).stderr
    assert "16, 24 or 32" in main_admin(*args, "--key-file", "-", stdin="00ff", ok=False).stderr
    assert stored_credentials(database_url) == []
