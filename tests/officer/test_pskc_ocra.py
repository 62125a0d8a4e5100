"""OCRA keys in PSKC files (RFC 6030 keys with an RFC 6287 suite) import as OCRA
credentials: the seed put in the file answers, through the HSM, what python-oath answers
for it; a suite the server could never verify a transfer with is refused by name; HOTP and
TOTP keys of the same file import beside them; a KEK rotation moves both of the
credential's blobs; a resynchronisation from two codes is refused."""

from __future__ import annotations

import base64
import json
import random
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
from pskc import PSKC

from hsm import Algorithm, Hsm, OcraInput, OcraSuite, WrappedSeed
from server.db.models import Credential, CredentialKind
from server.domain.imports.pskc import Password, PreSharedKey, Protection, read_pskc
from tests.officer.conftest import AdminRun, audit_events, stored_credentials
from tests.oracles import oath_ocra, oathtool_hotp

OCRA = "urn:ietf:params:xml:ns:keyprov:pskc:ocra"
HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
IN_URI = "urn:ietf:params:xml:ns:keyprov:pskc#"  # the suite follows, in the URI itself
TRANSFERS = "OCRA-1:HOTP-SHA256-8:QA20-T1M"  # docs/protocol.md §6
LONGER_QUESTION = "OCRA-1:HOTP-SHA1-8:QA24-T1M"


@dataclass
class Vendor:
    """A vendor's PSKC file in the making: the keys, and each key's seed as put in."""

    container: PSKC = field(default_factory=PSKC)
    seeds: dict[str, bytes] = field(default_factory=dict)

    def key(self, serial: str, length: int, **fields: object) -> None:
        self.seeds[serial] = secrets.token_bytes(length)
        self.container.add_key(serial=serial, secret=self.seeds[serial], **fields)  # type: ignore[arg-type]

    def ocra(self, serial: str, suite: str, length: int = 32, **fields: object) -> None:
        self.key(serial, length, algorithm=OCRA, algorithm_suite=suite, **fields)

    def mixed(self) -> None:
        """HOTP and TOTP keys, as every batch so far has had."""
        self.key("HOTP-1", 20, algorithm=HOTP, response_length=6, counter=3)
        self.key("TOTP-1", 20, algorithm=TOTP, response_length=6, time_interval=30)

    def write(self, tmp_path: Path, protection: Protection) -> Path:
        """The file, encrypted (AES-128-CBC) with a MAC on every value."""
        if isinstance(protection, PreSharedKey):
            self.container.encryption.setup_preshared_key(key=protection.value)
        else:
            self.container.encryption.setup_pbkdf2(protection.value, iterations=1000)
        path = tmp_path / "vendor.pskcxml"
        self.container.write(str(path))
        return path


def _transfer_inputs(suite: OcraSuite, count: int = 5) -> list[OcraInput]:
    """Random 20-digit questions (as the server asks: an amount and a payee) at random
    time steps of the suite, within a few years of now."""
    rng = random.Random(secrets.randbits(32))
    now = suite.time_step_at(1_796_117_400)
    return [
        OcraInput(
            "".join(rng.choices(string.digits, k=20)),
            time_step=now + rng.randrange(-1_000_000, 1_000_000),
        )
        for _ in range(count)
    ]


def _assert_answers_as_python_oath(hsm: Hsm, row: Credential, seed: bytes) -> None:
    """Both blobs of an imported OCRA credential give, in the HSM, python-oath's responses
    for the seed that was put in the file."""
    assert row.ocra_suite is not None and row.ocra_wrapped_seed is not None
    suite = OcraSuite.parse(row.ocra_suite)
    inputs = _transfer_inputs(suite)
    expected = [
        oath_ocra(suite.text, seed, given.question, time_step=given.time_step) for given in inputs
    ]
    assert row.ocra_seed_length is not None
    for blob, length in (
        (row.ocra_wrapped_seed, row.ocra_seed_length),
        (row.wrapped_seed, row.seed_length),
    ):
        sealed = WrappedSeed(blob, row.kek_version, length)
        assert hsm.ocra_responses(sealed, suite, inputs) == expected, inputs


def _by_serial(database_url: str) -> dict[str, Credential]:
    return {str(row.serial): row for row in stored_credentials(database_url)}


# -- reading the file -----------------------------------------------------------------------


def test_ocra_keys_are_read_with_their_suite_beside_hotp_and_totp(tmp_path: Path) -> None:
    vendor = Vendor()
    vendor.ocra("OCRA-256", TRANSFERS, response_length=8, manufacturer="Acme Tokens")
    vendor.key("OCRA-1", 20, algorithm=IN_URI + LONGER_QUESTION)
    vendor.mixed()
    key = PreSharedKey(secrets.token_bytes(16))
    batch = read_pskc(vendor.write(tmp_path, key).read_bytes(), key)
    assert batch.rejected == []
    tokens = {token.serial: token for token in batch.tokens}
    assert set(tokens) == set(vendor.seeds)
    for serial, suite, algorithm in (
        ("OCRA-256", TRANSFERS, Algorithm.SHA256),
        ("OCRA-1", LONGER_QUESTION, Algorithm.SHA1),
    ):
        token = tokens[serial]
        assert token.suite is not None and token.suite.text == suite
        assert (token.kind, token.algorithm, token.digits, token.period, token.counter) == (
            CredentialKind.OCRA,
            algorithm,
            8,
            60,
            0,
        )
        assert token.seed == vendor.seeds[serial]
        assert token.describe() == f"ocra {suite}"
    assert (tokens["HOTP-1"].kind, tokens["HOTP-1"].suite) == (CredentialKind.HOTP, None)
    assert (tokens["TOTP-1"].kind, tokens["TOTP-1"].period) == (CredentialKind.TOTP, 30)


@pytest.mark.parametrize(
    ("suite", "reasons"),
    [
        (
            "OCRA-1:HOTP-SHA1-6:QN08",
            [
                "no time step (T)",
                "its question is numeric (QN), not alphanumeric (QA)",
                "at most 8 characters, not the 20 of a transfer",
            ],
        ),
        ("OCRA-1:HOTP-SHA256-8:C-QA20-T1M", ["takes a counter (C)"]),
        ("OCRA-1:HOTP-SHA256-8:QA20-PSHA1-T1M", ["takes a PIN (P)"]),
        ("OCRA-1:HOTP-SHA256-8:QA20-S064-T1M", ["takes session information (S)"]),
        ("OCRA-1:HOTP-SHA256-8:QA10-T1M", ["at most 10 characters, not the 20"]),
        ("OCRA-1:HOTP-SHA256-8:QH40-T1M", ["hexadecimal (QH), not alphanumeric"]),
        ("OCRA-1:HOTP-SHA256-4:QA20-T1M", ["responses have 4 digits, not 6 to 10"]),
    ],
)
def test_a_suite_the_server_cannot_verify_is_refused_naming_it(
    tmp_path: Path, suite: str, reasons: list[str]
) -> None:
    vendor = Vendor()
    vendor.ocra("OCRA-X", suite)
    vendor.mixed()
    key = PreSharedKey(secrets.token_bytes(16))
    batch = read_pskc(vendor.write(tmp_path, key).read_bytes(), key)
    assert sorted(token.serial for token in batch.tokens) == ["HOTP-1", "TOTP-1"]
    (rejected,) = batch.rejected
    assert rejected.serial == "OCRA-X"
    assert rejected.reason.startswith(f"OCRA suite {suite} cannot sign transfers here: ")
    for reason in reasons:
        assert reason in rejected.reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"algorithm": OCRA}, "the OCRA key has no suite"),
        ({"algorithm": OCRA, "algorithm_suite": "OCRA-1:HOTP-MD5-8:QA20-T1M"}, "is not valid"),
        ({"algorithm": OCRA, "algorithm_suite": "OCRA-2:HOTP-SHA1-8:QA20-T1M"}, "OCRA-1 exists"),
        (
            {"algorithm": IN_URI + TRANSFERS, "algorithm_suite": LONGER_QUESTION},
            "names two OCRA suites",
        ),
        (
            {"algorithm": OCRA, "algorithm_suite": TRANSFERS, "response_length": 6},
            "responses have 6 digits, but its OCRA suite OCRA-1:HOTP-SHA256-8:QA20-T1M says 8",
        ),
        (
            {"algorithm": OCRA, "algorithm_suite": TRANSFERS, "time_interval": 30},
            "time step is 30 s, but its OCRA suite OCRA-1:HOTP-SHA256-8:QA20-T1M says 60 s",
        ),
        (
            {"algorithm": OCRA, "algorithm_suite": TRANSFERS, "response_encoding": "ALPHANUMERIC"},
            "response encoding ALPHANUMERIC",
        ),
    ],
)
def test_an_ocra_key_the_file_describes_badly_is_refused(
    tmp_path: Path, fields: dict[str, object], reason: str
) -> None:
    vendor = Vendor()
    vendor.key("OCRA-X", 32, **fields)
    key = PreSharedKey(secrets.token_bytes(16))
    batch = read_pskc(vendor.write(tmp_path, key).read_bytes(), key)
    assert batch.tokens == []
    assert reason in batch.rejected[0].reason


def test_an_ocra_seed_is_held_to_the_same_lengths_as_any_seed(tmp_path: Path) -> None:
    vendor = Vendor()
    vendor.ocra("OCRA-SHORT", TRANSFERS, length=10)
    key = PreSharedKey(secrets.token_bytes(16))
    data = vendor.write(tmp_path, key).read_bytes()
    (rejected,) = read_pskc(data, key).rejected
    assert "the secret is 10 bytes; 16 to 128 are accepted" in rejected.reason
    (token,) = read_pskc(data, key, allow_short_seeds=True).tokens
    assert token.short_seed and token.describe() == f"ocra {TRANSFERS} SHORT SEED 80 bits"


# -- importing: the HSM, the database, the audit trail, the officer's commands -------------


def test_an_ocra_batch_imports_and_answers_as_python_oath(
    main_admin: AdminRun, hsm: Hsm, database_url: str, tmp_path: Path
) -> None:
    main_admin("customer", "add", "alice", "--email", "alice@example.com")
    main_admin("customer", "add", "bob", "--email", "bob@example.com")
    vendor = Vendor()
    vendor.ocra("OCRA-256", TRANSFERS, length=32, response_length=8)
    vendor.ocra("OCRA-1", LONGER_QUESTION, length=20)
    vendor.mixed()
    key = PreSharedKey(secrets.token_bytes(16))
    path = vendor.write(tmp_path, key)
    command = ("pskc", "import", str(path), "--key-file", "-", "--unassigned")
    assign = ("--assign", "OCRA-256=alice")

    dry = main_admin(*command, *assign, "--dry-run", stdin=key.value.hex()).stdout
    assert re.search(rf"ok +OCRA-256 +ocra {TRANSFERS} +-> alice", dry)
    assert re.search(rf"ok +OCRA-1 +ocra {LONGER_QUESTION} +-> unassigned", dry)
    assert "dry run: 4 token(s) would be imported" in dry
    assert stored_credentials(database_url) == []

    done = main_admin(*command, *assign, stdin=key.value.hex()).stdout
    assert "imported 4 token(s)" in done
    rows = _by_serial(database_url)
    for serial, suite, algorithm, owner_status in (
        ("OCRA-256", TRANSFERS, "SHA256", "active"),
        ("OCRA-1", LONGER_QUESTION, "SHA1", "unassigned"),
    ):
        row = rows[serial]
        seed = vendor.seeds[serial]
        assert (row.kind, row.ocra_suite, row.algorithm, row.digits, row.period) == (
            "ocra",
            suite,
            algorithm,
            8,
            60,
        )
        assert (row.last_step, row.drift, row.status) == (-1, 0, owner_status)
        # the OCRA seed is the credential's only seed: one blob, in both columns
        assert row.ocra_wrapped_seed == row.wrapped_seed
        assert row.ocra_seed_length == row.seed_length == len(seed)
        _assert_answers_as_python_oath(hsm, row, seed)

    # the HOTP and TOTP keys of the same file are what they always were
    hotp, totp = rows["HOTP-1"], rows["TOTP-1"]
    assert (hotp.kind, hotp.last_step, hotp.ocra_suite, hotp.ocra_wrapped_seed) == (
        "hotp",
        2,
        None,
        None,
    )
    sealed = WrappedSeed(hotp.wrapped_seed, hotp.kek_version, hotp.seed_length)
    assert hsm.otp_values(sealed, Algorithm.SHA1, 6, [3, 4]) == [
        oathtool_hotp(vendor.seeds["HOTP-1"], 6, counter) for counter in (3, 4)
    ]
    sealed = WrappedSeed(totp.wrapped_seed, totp.kek_version, totp.seed_length)
    pyotp_seed = base64.b32encode(vendor.seeds["TOTP-1"]).decode()
    assert (totp.kind, totp.period, totp.ocra_suite) == ("totp", 30, None)
    assert hsm.otp_values(sealed, Algorithm.SHA1, 6, [57_000_000]) == [
        pyotp.HOTP(pyotp_seed).at(57_000_000)
    ]

    imported = {e["serial"]: e for e in _events(database_url, "credential.import")}
    assert imported["OCRA-256"]["kind"] == "ocra"
    assert imported["OCRA-256"]["ocra_suite"] == TRANSFERS
    assert imported["OCRA-1"]["ocra_suite"] == LONGER_QUESTION
    assert "ocra_suite" not in imported["HOTP-1"] and "ocra_suite" not in imported["TOTP-1"]
    (batch,) = _events(database_url, "credential.import-batch")
    assert (batch["imported"], batch["unassigned"], batch["ocra"]) == (4, 3, 2)

    # stock is given to a customer as any token is, and stays an OCRA credential
    stock = main_admin("credential", "list", "--unassigned").stdout
    assert re.search(rf"serial OCRA-1 +ocra SHA1 +8d .*suite {LONGER_QUESTION}", stock)
    main_admin("credential", "assign", "OCRA-1", "bob")
    listed = main_admin("credential", "list", "--username", "bob").stdout
    assert re.search(rf"bob +ocra SHA1 +8d +active .*suite {LONGER_QUESTION}", listed)
    row = _by_serial(database_url)["OCRA-1"]
    assert (row.kind, row.status, row.ocra_wrapped_seed) == (
        "ocra",
        "active",
        rows["OCRA-1"].wrapped_seed,
    )
    _assert_answers_as_python_oath(hsm, row, vendor.seeds["OCRA-1"])


def _events(database_url: str, action: str) -> list[dict[str, object]]:
    """The details of each audit event of exactly `action`."""
    return [
        json.loads(event.details)
        for event in audit_events(database_url, action)
        if event.action == action
    ]


def test_refused_suites_are_reported_and_nothing_is_imported(
    main_admin: AdminRun, database_url: str, tmp_path: Path
) -> None:
    vendor = Vendor()
    vendor.ocra("OCRA-QN", "OCRA-1:HOTP-SHA1-6:QN08", length=20)
    vendor.ocra("OCRA-C", "OCRA-1:HOTP-SHA256-8:C-QA20-T1M")
    vendor.ocra("OCRA-OK", TRANSFERS)
    vendor.mixed()
    key = PreSharedKey(secrets.token_bytes(16))
    path = vendor.write(tmp_path, key)
    result = main_admin(
        "pskc",
        "import",
        str(path),
        "--key-file",
        "-",
        "--unassigned",
        stdin=key.value.hex(),
        ok=False,
    )
    assert result.returncode == 1 and "nothing imported: 2 problem(s)" in result.stderr
    for serial in ("OCRA-OK", "HOTP-1", "TOTP-1"):
        assert re.search(rf"ok +{serial} ", result.stdout)
    assert re.search(
        r"REJECTED +OCRA-QN .*OCRA suite OCRA-1:HOTP-SHA1-6:QN08 cannot sign transfers here: "
        r".*no time step \(T\)",
        result.stdout,
    )
    assert re.search(
        r"REJECTED +OCRA-C .*OCRA suite OCRA-1:HOTP-SHA256-8:C-QA20-T1M cannot sign transfers "
        r"here: it takes a counter \(C\)",
        result.stdout,
    )
    # all or nothing, as for any rejected key
    assert stored_credentials(database_url) == []
    assert audit_events(database_url, "credential.") == []


def test_resync_refuses_an_ocra_credential(
    main_admin: AdminRun, database_url: str, tmp_path: Path
) -> None:
    main_admin("customer", "add", "carla", "--email", "carla@example.com")
    vendor = Vendor()
    vendor.ocra("OCRA-256", TRANSFERS)
    password = Password("correct horse battery staple")
    path = vendor.write(tmp_path, password)
    main_admin(
        "pskc",
        "import",
        str(path),
        "--password-file",
        "-",
        "--assign",
        "OCRA-256=carla",
        stdin=password.value,
    )
    (row,) = stored_credentials(database_url)
    refused = main_admin("credential", "resync", row.public_id, "12345678", "23456789", ok=False)
    assert refused.returncode == 1
    assert f"credential {row.public_id} signs transfers (OCRA)" in refused.stderr
    assert "cannot be resynchronised" in refused.stderr
    (after,) = stored_credentials(database_url)
    assert (after.last_step, after.drift, after.updated_at) == (-1, 0, row.updated_at)
    assert _events(database_url, "credential.resync") == []
    # what makes sense for any credential still does
    main_admin("credential", "unlock", row.public_id)
    main_admin("credential", "revoke", row.public_id)
    assert stored_credentials(database_url)[0].status == "revoked"


def test_kek_rotation_moves_both_blobs_of_an_imported_ocra_credential(
    officer_admin: AdminRun, officer_hsm: Hsm, database_url: str, tmp_path: Path
) -> None:
    """The imported credential's two columns hold the same blob; the rotation re-wraps
    each (in one HSM call, one conditional UPDATE) and both still answer as python-oath."""
    officer_hsm.reload_keys()  # earlier tests may have rotated this token
    vendor = Vendor()
    vendor.key("OCRA-256", 32, algorithm=IN_URI + TRANSFERS)  # the suite in the URI
    vendor.ocra("OCRA-1", LONGER_QUESTION, length=20)
    vendor.mixed()
    password = Password("rotation")
    path = vendor.write(tmp_path, password)
    officer_admin(
        "pskc",
        "import",
        str(path),
        "--password-file",
        "-",
        "--unassigned",
        stdin=password.value,
    )
    before = _by_serial(database_url)
    old = before["OCRA-256"].kek_version

    rotated = officer_admin("keys", "rotate").stdout
    assert f"created KEK v{old + 1} (was v{old}); 4 credential(s) to re-wrap" in rotated
    after = _by_serial(database_url)
    for serial in ("OCRA-256", "OCRA-1"):
        row, was = after[serial], before[serial]
        assert row.kek_version == old + 1
        assert row.wrapped_seed != was.wrapped_seed
        assert row.ocra_wrapped_seed != was.ocra_wrapped_seed
        assert (row.seed_length, row.ocra_seed_length) == (was.seed_length, was.ocra_seed_length)
        _assert_answers_as_python_oath(officer_hsm, row, vendor.seeds[serial])
    assert "audit chain OK" in officer_admin("audit", "verify").stdout
