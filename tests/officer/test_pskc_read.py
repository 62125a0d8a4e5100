"""Reading PSKC files (RFC 6030) with python-pskc: the RFC figures, a vendor batch, and every
way a key can be refused. No HSM and no database here."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from pskc import PSKC

from hsm import Algorithm
from server.db.models import CredentialKind
from server.domain.imports.pskc import Password, PreSharedKey, PskcBatch, read_pskc
from server.errors import InvalidInput
from tests.oracles import RFC_SEEDS, VECTORS, load_vectors, oathtool_hotp

PSKC_DIR = VECTORS / "pskc"
FIGURE6 = (PSKC_DIR / "rfc6030-figure6.pskcxml").read_bytes()
FIGURE7 = (PSKC_DIR / "rfc6030-figure7.pskcxml").read_bytes()
BATCH = (PSKC_DIR / "batch-psk.pskcxml").read_text()
FIGURE6_KEY = PreSharedKey(bytes.fromhex((PSKC_DIR / "rfc6030-figure6.key").read_text()))
FIGURE7_PASSWORD = Password((PSKC_DIR / "rfc6030-figure7.password").read_text().strip())
BATCH_KEY = PreSharedKey(bytes.fromhex((PSKC_DIR / "batch-psk.key").read_text()))
BATCH_SEEDS = load_vectors("pskc/batch-psk.seeds")


def test_the_rfc_figures_hotp_values_agree_with_oathtool() -> None:
    rows = load_vectors("pskc/rfc6030-hotp.txt")
    assert len(rows) == 10
    for counter, value in rows:
        assert oathtool_hotp(RFC_SEEDS["SHA1"], 8, int(counter)) == value


@pytest.mark.parametrize(
    ("data", "protection", "described"),
    [(FIGURE6, FIGURE6_KEY, "pre-shared key"), (FIGURE7, FIGURE7_PASSWORD, "password")],
    ids=["figure6-preshared-key", "figure7-pbkdf2"],
)
def test_rfc6030_figures(data: bytes, protection: object, described: str) -> None:
    batch = read_pskc(data, protection)  # type: ignore[arg-type]
    assert batch.rejected == [] and batch.protection == described
    (token,) = batch.tokens
    assert token.seed == RFC_SEEDS["SHA1"]
    assert (token.serial, token.kind, token.algorithm, token.digits, token.counter) == (
        "987654321",
        CredentialKind.HOTP,
        Algorithm.SHA1,
        8,
        0,
    )
    assert "1234567890" not in repr(token)


def test_a_vendor_batch_with_hotp_and_totp_keys() -> None:
    batch = read_pskc(BATCH.encode(), BATCH_KEY)
    assert batch.rejected == []
    assert len(batch.tokens) == len(BATCH_SEEDS) == 3
    for token, (serial, kind, algorithm, digits, parameter, seed) in zip(
        batch.tokens, BATCH_SEEDS, strict=True
    ):
        assert token.serial == serial and token.kind.value == kind
        assert token.algorithm.value == algorithm and token.digits == int(digits)
        assert (token.counter if kind == "hotp" else token.period) == int(parameter)
        assert token.seed.hex() == seed
        assert (token.manufacturer, token.model) == ("Acme Tokens", "OTP-C200")


def _tamper(what: str) -> str:
    """The batch with one byte of the second key's MAC, ciphertext or IV flipped."""
    if what == "mac":
        values = re.findall(r"<pskc:ValueMAC>([^<]+)</pskc:ValueMAC>", BATCH)
        target, index = values[1], 7
    else:
        # the first CipherValue is the MAC key; then one per key: IV (16 bytes) + ciphertext
        values = re.findall(r"<xenc:CipherValue>([^<]+)</xenc:CipherValue>", BATCH)
        target, index = values[2], (3 if what == "iv" else 27)
    raw = bytearray(base64.b64decode(target))
    raw[index] ^= 0x01
    return BATCH.replace(target, base64.b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("what", ["mac", "ciphertext", "iv"])
def test_one_altered_byte_rejects_that_key_only(what: str) -> None:
    batch = read_pskc(_tamper(what).encode(), BATCH_KEY)
    assert [t.serial for t in batch.tokens] == ["ACME-0001", "ACME-0003"]
    (rejected,) = batch.rejected
    assert rejected.serial == "ACME-0002"
    assert rejected.reason.startswith(("MAC check failed", "cannot decrypt"))


def test_a_wrong_key_or_password_rejects_every_key_with_a_hint() -> None:
    batch = read_pskc(FIGURE7, Password("not qwerty"))
    assert batch.tokens == []
    assert "wrong key or password?" in batch.rejected[0].reason
    batch = read_pskc(BATCH.encode(), PreSharedKey(bytes(16)))
    assert len(batch.rejected) == 3 and batch.tokens == []


def test_protection_must_fit_the_file() -> None:
    with pytest.raises(InvalidInput, match="pre-shared key: give the key"):
        read_pskc(FIGURE6, None)
    with pytest.raises(InvalidInput, match="password"):
        read_pskc(FIGURE7, FIGURE6_KEY)
    with pytest.raises(InvalidInput, match="pre-shared key"):
        read_pskc(FIGURE6, FIGURE7_PASSWORD)
    with pytest.raises(InvalidInput, match="not a PSKC file"):
        read_pskc(b"<html>nope</html>", FIGURE6_KEY)


def test_an_encrypted_secret_without_its_mac_is_rejected() -> None:
    stripped = re.sub(r"<pskc:ValueMAC>[^<]+</pskc:ValueMAC>", "", BATCH, count=1)
    batch = read_pskc(stripped.encode(), BATCH_KEY)
    assert [r.serial for r in batch.rejected] == ["ACME-0001"]
    assert "no ValueMAC" in batch.rejected[0].reason


def _plain(tmp_path: Path, **key: object) -> bytes:
    container = PSKC()
    container.add_key(
        serial="PLAIN-1", secret=b"s" * 20, algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp"
    )
    container.add_key(**{"serial": "PLAIN-2", "secret": b"t" * 20, **key})  # type: ignore[arg-type]
    path = tmp_path / "plain.pskcxml"
    container.write(str(path))
    return path.read_bytes()


def test_seeds_in_the_clear_need_an_explicit_yes(tmp_path: Path) -> None:
    data = _plain(tmp_path, algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp")
    with pytest.raises(InvalidInput, match="not encrypted"):
        read_pskc(data, None)
    with pytest.raises(InvalidInput, match="not encrypted, but a key"):
        read_pskc(data, FIGURE6_KEY)
    batch: PskcBatch = read_pskc(data, None, allow_plaintext=True)
    assert [(t.serial, t.kind, t.period) for t in batch.tokens] == [
        ("PLAIN-1", CredentialKind.HOTP, 60),
        ("PLAIN-2", CredentialKind.TOTP, 30),
    ]
    assert batch.protection == "none"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ({"algorithm": "urn:ietf:params:xml:ns:keyprov:pskc:pin"}, "not HOTP, TOTP or OCRA"),
        ({"algorithm": "urn:ietf:params:xml:ns:keyprov:pskc#ocra"}, "OCRA key has no suite"),
        (
            {"algorithm": "urn:ietf:params:xml:ns:keyprov:pskc:hotp", "response_length": 4},
            "4-digit",
        ),
        (
            {
                "algorithm": "urn:ietf:params:xml:ns:keyprov:pskc:hotp",
                "response_encoding": "HEXADECIMAL",
            },
            "encoding",
        ),
        (
            {"algorithm": "urn:ietf:params:xml:ns:keyprov:pskc:totp", "algorithm_suite": "MD5"},
            "suite",
        ),
        (
            {"algorithm": "urn:ietf:params:xml:ns:keyprov:pskc:totp", "secret": b"short"},
            "5 bytes",
        ),
    ],
)
def test_keys_we_cannot_use_are_rejected_with_a_reason(
    tmp_path: Path, key: dict[str, object], reason: str
) -> None:
    batch = read_pskc(_plain(tmp_path, **key), None, allow_plaintext=True)
    assert [t.serial for t in batch.tokens] == ["PLAIN-1"]
    assert reason in batch.rejected[0].reason


def test_a_document_type_declaration_is_refused() -> None:
    laughs = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
        '<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">'
        "<KeyPackage><Key Id='&lol2;'/></KeyPackage></KeyContainer>"
    )
    with pytest.raises(InvalidInput, match="document type declarations"):
        read_pskc(laughs.encode(), None, allow_plaintext=True)


def _with_entity(encoding: str) -> bytes:
    """Figure 6 with its serial number spelt through an internal entity, in `encoding`."""
    text = FIGURE6.decode().replace(
        'encoding="UTF-8"?>',
        f'encoding="{encoding}"?>\n<!DOCTYPE x [<!ENTITY serial "987654321">]>',
        1,
    )
    text = text.replace("<SerialNo>987654321<", "<SerialNo>&serial;<")
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["UTF-16", "UTF-16LE", "UTF-16BE", "UTF-8"])
def test_a_document_type_declaration_is_refused_in_any_encoding(encoding: str) -> None:
    # The attacker's move against a filter on raw bytes: the same DTD in another encoding
    # (without the check, the UTF-16 file imports with its entity expanded).
    data = _with_entity(encoding)
    assert (b"<!DOCTYPE" in data) == (encoding == "UTF-8")
    with pytest.raises(InvalidInput, match="document type declarations"):
        read_pskc(data, FIGURE6_KEY)


def test_a_pskc_file_in_utf16_is_read_like_its_utf8_original() -> None:
    utf16 = FIGURE6.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    (token,) = read_pskc(utf16, FIGURE6_KEY).tokens
    assert token.seed == RFC_SEEDS["SHA1"]


def test_a_file_over_the_size_cap_is_refused_before_it_is_parsed() -> None:
    padding = b"<!--" + b"x" * 2048 + b"-->"
    with pytest.raises(InvalidInput, match="larger than 1 KiB"):
        read_pskc(FIGURE6 + padding, FIGURE6_KEY, max_bytes=1024)
    assert read_pskc(FIGURE6, FIGURE6_KEY, max_bytes=len(FIGURE6)).tokens
