"""One wire format on every HSM: RFC 5649, found by a known-answer test on the module and
recorded by each KEK (docs/protocol.md, "Seed wrapping: one format on every HSM")."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pkcs11.exceptions as p11e
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from hsm import Algorithm, Hsm
from hsm.cryptoki import handle_of
from hsm.keys import KeyPurpose
from hsm.wire_format import LEGACY_MECHANISM, NoStandardWrap, WrapFormat
from server.domain.keys.rules import NO_RFC5649, judge
from tests.conftest import SoftHsmTokens, wrap_under
from tests.hsm.conftest import like

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def _doc_value(name: str) -> bytes:
    row = re.search(rf"^\| {re.escape(name)} \| `([0-9a-f]+)` \|$", DOC, re.MULTILINE)
    assert row is not None, name
    return bytes.fromhex(row.group(1))


K = _doc_value("`K`")
SEED = _doc_value("seed (`seed_length` 20)")
AS_IS = _doc_value("`wrapped_seed`, seed as it is")
ZERO_PADDED = _doc_value("`wrapped_seed`, seed + 4 zero bytes")


def test_the_documented_forms_are_rfc5649_of_the_seed() -> None:
    # an independent RFC 5649 implementation opens both to the seed (+ zeros)
    assert aes_key_unwrap_with_padding(K, AS_IS) == SEED
    assert aes_key_unwrap_with_padding(K, ZERO_PADDED) == SEED + bytes(4)


def _wrap_on_the_hsm(hsm: Hsm, key: bytes, seed: bytes) -> bytes:
    """Wrap a known seed under a known transport key with the module's RFC 5649."""
    mechanism = hsm.wrap_format().require()
    direct = hsm._seeds.direct

    def run(session: object) -> bytes:
        s = handle_of(session)
        transport = direct.create(
            s,
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.TOKEN: False,
                Attribute.VALUE: key,
                Attribute.WRAP: True,
            },
        )
        obj = direct.create(
            s,
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.TOKEN: False,
                Attribute.VALUE: seed,
                Attribute.EXTRACTABLE: True,
                Attribute.SIGN: True,
            },
        )
        try:
            return direct.wrap(s, transport, obj, mechanism)
        finally:
            direct.destroy(s, obj)
            direct.destroy(s, transport)

    return hsm._run(run)


def test_the_hsm_wraps_the_known_answer_in_a_documented_form(hsm: Hsm) -> None:
    assert _wrap_on_the_hsm(hsm, K, SEED) in (AS_IS, ZERO_PADDED)


@pytest.mark.softhsm
def test_softhsm_wraps_as_rfc5649_with_its_pad_mechanism(hsm: Hsm) -> None:
    found = hsm.wrap_format()
    assert found.mechanism is Mechanism.AES_KEY_WRAP_PAD
    assert found.answers["AES_KEY_WRAP_PAD"] == "rfc5649, zero-padded"
    assert _wrap_on_the_hsm(hsm, K, SEED) == ZERO_PADDED


def test_a_kek_records_its_format(hsm: Hsm) -> None:
    mechanism = hsm.wrap_format().require()
    version = hsm._keys.current_version(KeyPurpose.SEED_WRAPPING)
    label = hsm._keys.get(KeyPurpose.SEED_WRAPPING, version)[Attribute.LABEL]
    identifier = hsm._run(
        lambda s: hsm._seeds.direct.value(
            handle_of(s), handle_of(hsm._keys.get(KeyPurpose.SEED_WRAPPING)), Attribute.ID
        )
    )
    assert identifier == f"{label} wrap={mechanism.name}".encode()
    assert hsm._run(lambda s: hsm._seeds.mechanism_of(s, version)) is mechanism


@pytest.mark.softhsm  # NSS softokn refuses CKA_ALLOWED_MECHANISMS on token keys
def test_softhsm_holds_a_kek_to_its_format(hsm: Hsm) -> None:
    mechanism = hsm.wrap_format().require()
    direct = hsm._seeds.direct

    def run(session: object) -> tuple[list[int] | None, str]:
        s = handle_of(session)
        kek = handle_of(hsm._keys.get(KeyPurpose.SEED_WRAPPING))
        allowed = direct.mechanism_list(s, kek, Attribute.ALLOWED_MECHANISMS)
        seed = direct.create(
            s,
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.TOKEN: False,
                Attribute.VALUE: secrets.token_bytes(32),
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: True,
                Attribute.SIGN: True,
            },
        )
        try:
            direct.wrap(s, kek, seed, Mechanism.AES_KEY_WRAP)  # RFC 3394, no padding
            other = "allowed"
        except p11e.PKCS11Error as exc:
            other = type(exc).__name__
        finally:
            direct.destroy(s, seed)
        return allowed, other

    allowed, other = hsm._run(run)
    assert allowed == [mechanism]
    assert other == "MechanismInvalid"


@pytest.mark.softhsm
def test_a_kek_without_a_recorded_format_is_read_as_the_legacy_one(
    legacy: tuple[Hsm, int],
) -> None:
    hsm, version = legacy
    assert hsm._run(lambda s: hsm._seeds.mechanism_of(s, version)) is LEGACY_MECHANISM
    value = secrets.token_bytes(20)
    seed = wrap_under(hsm, version, value)
    assert len(hsm.otp_values(seed, Algorithm.SHA1, 6, [1, 2])) == 2


FOUND = {
    "softhsm": (
        Mechanism.AES_KEY_WRAP_PAD,
        {"AES_KEY_WRAP_PAD": "rfc5649, zero-padded", "AES_KEY_WRAP_KWP": "MechanismInvalid"},
        ZERO_PADDED,
    ),
    "nss": (
        Mechanism.AES_KEY_WRAP_KWP,
        {"AES_KEY_WRAP_PAD": "other output", "AES_KEY_WRAP_KWP": "rfc5649"},
        AS_IS,
    ),
}
"""What the known-answer test finds on each module (SoftHSM 2.6.1, NSS softokn 3.87.1)."""


def test_the_status_shows_the_format_found_with_no_seed_made(
    hsm: Hsm, request: pytest.FixtureRequest
) -> None:
    mechanism, answers, form = FOUND[request.node.callspec.params["hsm"]]
    fresh = Hsm(like(hsm))
    try:
        found = fresh.status().wrap_format  # what the server's start-up proof asks
        assert found is not None
        assert (found.mechanism, found.answers) == (mechanism, answers)
        assert fresh.self_test()[f"AES_KEY_GEN + {mechanism.name}"] is None
    finally:
        fresh.close()
    assert _wrap_on_the_hsm(hsm, K, SEED) == form


NOTHING = WrapFormat(
    None, {"AES_KEY_WRAP_PAD": "other output", "AES_KEY_WRAP_KWP": "MechanismInvalid"}
)
"""A module where no candidate wraps as RFC 5649."""


@pytest.mark.softhsm
def test_a_module_with_no_rfc5649_mechanism_provisions_nothing(tokens: SoftHsmTokens) -> None:
    hsm = Hsm(tokens.config(tokens.spare))
    try:
        hsm.ensure_keys()
        hsm._format = NOTHING  # what `wire_format.find` answers on such a module
        token = ec.generate_private_key(ec.SECP256R1()).public_key()
        point = token.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        with pytest.raises(NoStandardWrap, match="AES_KEY_WRAP_PAD: other output"):
            hsm.provision_seed(Algorithm.SHA1, point, b"context")
        with pytest.raises(NoStandardWrap, match="no mechanism that wraps keys as RFC 5649"):
            hsm.create_kek()
        verdict = judge(hsm.status())
        assert NO_RFC5649 in verdict.missing
        assert "nothing can be provisioned" in (verdict.reason or "")
        assert "no mechanism" in (hsm.self_test()["AES_KEY_GEN + RFC 5649 wrap"] or "")
    finally:
        hsm.close()
