"""What a PSKC file must prove before its keys are trusted: an XML signature checked against
the vendor's certificate (RFC 6030 section 7), RSA key transport refused by name (section 6.3),
and each key's validity period honoured (section 8, figure 10).

The attacker here holds the file on its way from the vendor: they edit a key, strip the
signature, or sign with a certificate of their own."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pskc import PSKC

from server.domain.imports.pskc import PreSharedKey, read_pskc
from server.errors import InvalidInput
from tests.officer.conftest import AdminRun, audit_events, stored_credentials
from tests.oracles import VECTORS

PSKC_DIR = VECTORS / "pskc"
FIGURE8 = (PSKC_DIR / "rfc6030-figure8.pskcxml").read_bytes()
FIGURE9 = (PSKC_DIR / "rfc6030-figure9.pskcxml").read_bytes()
FIGURE10 = PSKC_DIR / "rfc6030-figure10.pskcxml"
TRANSPORT_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"


def _signer(name: str) -> tuple[bytes, str]:
    """A fresh RSA key (PKCS#8 PEM) and its self-signed certificate (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def vendor() -> tuple[bytes, str]:
    return _signer("Acme Tokens PSKC signing")


@pytest.fixture(scope="module")
def attacker() -> tuple[bytes, str]:
    return _signer("Acme Tokens PSKC signing")  # same name, different key


def _batch(tmp_path: Path, signer: tuple[bytes, str] | None, *serials: str) -> bytes:
    """A vendor file: one TOTP key per serial under `TRANSPORT_KEY`, signed by `signer`."""
    container = PSKC()
    for index, serial in enumerate(serials):
        container.add_key(
            serial=serial,
            secret=bytes([0x30 + index]) * 20,
            algorithm=TOTP,
            response_length=6,
            manufacturer="Acme Tokens",
        )
    container.encryption.setup_preshared_key(key=TRANSPORT_KEY)
    if signer is not None:
        container.signature.sign(*signer)
    path = tmp_path / "vendor.pskcxml"
    container.write(str(path))
    return path.read_bytes()


# -- signature --------------------------------------------------------------------------


def test_a_file_signed_by_the_vendor_is_verified_and_read(
    tmp_path: Path, vendor: tuple[bytes, str]
) -> None:
    data = _batch(tmp_path, vendor, "SIG-1", "SIG-2")
    assert b"<ds:Signature" in data
    batch = read_pskc(data, PreSharedKey(TRANSPORT_KEY), signer_certificate=vendor[1])
    assert batch.signed and batch.rejected == []
    assert [(t.serial, t.seed) for t in batch.tokens] == [
        ("SIG-1", b"0" * 20),
        ("SIG-2", b"1" * 20),
    ]


def test_a_signed_file_is_not_read_without_the_vendors_certificate(
    tmp_path: Path, vendor: tuple[bytes, str]
) -> None:
    data = _batch(tmp_path, vendor, "SIG-1")
    with pytest.raises(InvalidInput, match="give the vendor's signing certificate"):
        read_pskc(data, PreSharedKey(TRANSPORT_KEY))


def test_rfc6030_figure9_asks_for_a_certificate_and_then_does_not_verify(
    vendor: tuple[bytes, str],
) -> None:
    with pytest.raises(InvalidInput, match="carries an XML signature"):
        read_pskc(FIGURE9, PreSharedKey(b"\x00" * 16))
    with pytest.raises(InvalidInput, match="does not verify"):
        read_pskc(FIGURE9, PreSharedKey(b"\x00" * 16), signer_certificate=vendor[1])


def test_a_file_signed_by_someone_else_is_refused(
    tmp_path: Path, vendor: tuple[bytes, str], attacker: tuple[bytes, str]
) -> None:
    forged = _batch(tmp_path, attacker, "SIG-1")
    with pytest.raises(InvalidInput, match="does not verify against the given certificate"):
        read_pskc(forged, PreSharedKey(TRANSPORT_KEY), signer_certificate=vendor[1])


def test_an_edited_signed_file_is_refused(tmp_path: Path, vendor: tuple[bytes, str]) -> None:
    data = _batch(tmp_path, vendor, "SIG-1", "SIG-2")
    # the attacker renames a token to one of theirs, and, separately, drops a key
    renamed = data.replace(b"<pskc:SerialNo>SIG-2<", b"<pskc:SerialNo>EVIL-2<")
    dropped = re.sub(rb"<pskc:KeyPackage>.*?SIG-2.*?</pskc:KeyPackage>", b"", data, flags=re.S)
    assert renamed != data and dropped != data
    # without the signature check either edit is read happily
    assert "EVIL-2" in PSKC(_unsigned(renamed)).keys[1].serial
    for edited in (renamed, dropped):
        with pytest.raises(InvalidInput, match="does not verify"):
            read_pskc(edited, PreSharedKey(TRANSPORT_KEY), signer_certificate=vendor[1])


def _unsigned(data: bytes) -> io.BytesIO:
    return io.BytesIO(re.sub(rb"<ds:Signature>.*</ds:Signature>", b"", data, flags=re.S))


def test_a_stripped_signature_is_noticed_when_a_certificate_is_expected(
    tmp_path: Path, vendor: tuple[bytes, str]
) -> None:
    data = _batch(tmp_path, vendor, "SIG-1")
    stripped = re.sub(rb"<ds:Signature>.*</ds:Signature>", b"", data, flags=re.S)
    assert b"Signature" not in stripped
    with pytest.raises(InvalidInput, match="the file is not signed"):
        read_pskc(stripped, PreSharedKey(TRANSPORT_KEY), signer_certificate=vendor[1])
    # an officer who gives no certificate reads an unsigned file as before, and is told so
    assert not read_pskc(stripped, PreSharedKey(TRANSPORT_KEY)).signed


# -- RSA key transport ------------------------------------------------------------------


def test_rfc6030_figure8_rsa_key_transport_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match=r"RSA key transport \(RFC 6030 section 6.3\)"):
        read_pskc(FIGURE8, PreSharedKey(b"\x00" * 16))
    with pytest.raises(InvalidInput, match="RSA key transport"):
        read_pskc(FIGURE8, None, allow_plaintext=True)


# -- validity periods -------------------------------------------------------------------


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_rfc6030_figure10_keys_are_taken_only_in_their_period() -> None:
    data = FIGURE10.read_bytes()
    may = read_pskc(data, None, allow_plaintext=True, now=_at("2006-05-15"))
    assert [(t.serial, t.key_id) for t in may.tokens] == [("654321", "1"), ("123456", "2")]
    assert [(s.serial, s.key_id) for s in may.skipped] == [("9999999", "3"), ("9999999", "4")]
    assert all("expired on 2006-0" in s.reason for s in may.skipped)
    assert may.rejected == []

    april = read_pskc(data, None, allow_plaintext=True, now=_at("2006-04-15"))
    assert [(t.serial, t.key_id) for t in april.tokens] == [("9999999", "4")]
    reasons = {s.key_id: s.reason for s in april.skipped}
    assert reasons["1"] == reasons["2"] == "not valid before 2006-05-01 00:00 UTC: skipped"
    assert reasons["3"] == "expired on 2006-03-31 00:00 UTC: skipped"

    today = read_pskc(data, None, allow_plaintext=True)
    assert today.tokens == [] and len(today.skipped) == 4


def test_several_keys_valid_at_once_for_one_device_are_refused_as_ambiguous(
    tmp_path: Path,
) -> None:
    container = PSKC()
    for secret in (b"a" * 20, b"b" * 20):
        container.add_key(serial="TWICE-1", secret=secret, algorithm=HOTP)
    container.add_key(serial="ONCE-1", secret=b"c" * 20, algorithm=HOTP)
    path = tmp_path / "twice.pskcxml"
    container.write(str(path))
    batch = read_pskc(path.read_bytes(), None, allow_plaintext=True)
    assert [t.serial for t in batch.tokens] == ["ONCE-1"]
    assert [r.serial for r in batch.rejected] == ["TWICE-1", "TWICE-1"]
    assert "2 keys valid now" in batch.rejected[0].reason


# -- through `otp-admin pskc import` ----------------------------------------------------


def test_the_cli_imports_a_signed_file_and_records_the_check(
    main_admin: AdminRun,
    database_url: str,
    tmp_path: Path,
    vendor: tuple[bytes, str],
    attacker: tuple[bytes, str],
) -> None:
    data = _batch(tmp_path, vendor, "SIG-1")
    signed = tmp_path / "signed.pskcxml"
    signed.write_bytes(data)
    cert = tmp_path / "vendor.pem"
    cert.write_text(vendor[1])
    key = tmp_path / "transport.key"
    key.write_text(TRANSPORT_KEY.hex())
    args = ("pskc", "import", str(signed), "--key-file", str(key), "--unassigned")

    unsigned_check = main_admin(*args, ok=False)
    assert "give the vendor's signing certificate" in unsigned_check.stderr
    wrong = tmp_path / "attacker.pem"
    wrong.write_text(attacker[1])
    assert "does not verify" in main_admin(*args, "--signer-cert", str(wrong), ok=False).stderr
    assert stored_credentials(database_url) == []

    result = main_admin(*args, "--signer-cert", str(cert))
    assert "XML signature verified" in result.stdout
    assert "imported 1 token(s)" in result.stdout
    assert [row.serial for row in stored_credentials(database_url)] == ["SIG-1"]
    (event,) = audit_events(database_url, "credential.import-batch")
    assert json.loads(event.details)["signature"] == "verified"


def test_the_cli_reports_keys_outside_their_period(main_admin: AdminRun, database_url: str) -> None:
    args = ("pskc", "import", str(FIGURE10), "--allow-plaintext", "--unassigned")
    result = main_admin(*args, ok=False)
    assert result.stdout.count("SKIPPED") == 4
    assert re.search(r"SKIPPED +9999999 +key '4': expired on 2006-04-30 00:00 UTC", result.stdout)
    assert "no key of the file is valid now" in result.stdout
    assert "file: 4 key(s)" in result.stdout
    assert (
        stored_credentials(database_url) == []
        and audit_events(database_url, "credential.import-batch") == []
    )
