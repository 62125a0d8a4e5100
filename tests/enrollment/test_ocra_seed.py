"""The OCRA seed a bundle carries (docs/protocol.md §4 step 6, §6), checked as an
integrator would: recovered by the page's own client (cryptography's ECDH and RFC 5649
unwrap, no server code), it gives python-oath's responses and the HSM's over the blob the
database keeps; it is not the TOTP seed; an old token still takes the bundle."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select

from device_firmware.link import bundle as firmware_bundle
from hsm import OcraInput, OcraSuite, WrappedSeed
from server.db.models import Credential
from server.domain.verification.transfers import SUITE
from tests.enrollment.conftest import Enrollment
from tests.enrollment.token_client import Provisioned, TokenClient
from tests.oracles import oath_ocra

OCRA_FIELDS = ("ocra_suite", "ocra_wrapped_seed", "ocra_seed_length")
QUESTIONS = ("00000012500000054321", "00000000000198765432", "99999999999912345678")


def _stored(enroll: Enrollment, credential_id: str) -> Credential:
    with enroll.services.db.transaction() as session:
        return session.exec(select(Credential).where(Credential.public_id == credential_id)).one()


def _responses_agree(enroll: Enrollment, provisioned: Provisioned) -> None:
    bundle = provisioned.bundle
    assert {name: bundle[name] for name in ("ocra_suite", "ocra_seed_length")} == {
        "ocra_suite": SUITE,
        "ocra_seed_length": 32,
    }
    ocra_seed = provisioned.ocra_seed
    assert ocra_seed is not None and len(ocra_seed) == 32
    assert ocra_seed != provisioned.seed and not ocra_seed.startswith(provisioned.seed)
    row = _stored(enroll, bundle["credential_id"])
    assert (row.ocra_suite, row.ocra_seed_length) == (SUITE, 32)
    assert row.ocra_wrapped_seed is not None and row.ocra_wrapped_seed != row.wrapped_seed
    stored = WrappedSeed(row.ocra_wrapped_seed, row.kek_version, row.ocra_seed_length)
    suite = OcraSuite.parse(bundle["ocra_suite"])
    step = suite.time_step_at(bundle["server_time"])
    inputs = [OcraInput(q, time_step=step + delta) for q in QUESTIONS for delta in (-1, 0, 1)]
    expected = [oath_ocra(SUITE, ocra_seed, i.question, time_step=i.time_step) for i in inputs]
    assert enroll.services.hsm.ocra_responses(stored, suite, inputs) == expected
    assert len(set(expected)) == len(expected)


def test_both_flows_send_an_ocra_seed_the_hsm_and_python_oath_agree_on(
    enroll: Enrollment,
) -> None:
    registered = enroll.register(enroll.token(), enroll.customer())
    activated = enroll.activate(enroll.token(), enroll.customer())
    for provisioned in (registered, activated):
        _responses_agree(enroll, provisioned)
    assert registered.ocra_seed != activated.ocra_seed


def test_the_ocra_seed_on_a_second_pkcs11_implementation(nss_enroll: Enrollment) -> None:
    """NSS softokn wraps the OCRA seed as RFC 5649 too (its `_KWP`, not its `_PAD`)."""
    _responses_agree(nss_enroll, nss_enroll.register(nss_enroll.token(), nss_enroll.customer()))


@pytest.mark.parametrize("field", OCRA_FIELDS)
def test_the_signature_covers_each_ocra_field(enroll: Enrollment, field: str) -> None:
    token = enroll.token()
    bundle: dict[str, Any] = dict(enroll.register(token, enroll.customer()).bundle)
    assert token.pinned is not None
    firmware_bundle.check_signature(bundle, token.pinned)
    bundle[field] = 31 if field == "ocra_seed_length" else bundle[field][:-2] + "AA"
    with pytest.raises(firmware_bundle.BundleRejected, match="does not verify"):
        firmware_bundle.check_signature(bundle, token.pinned)
    del bundle[field]
    with pytest.raises(firmware_bundle.BundleRejected, match="does not verify"):
        firmware_bundle.check_signature(bundle, token.pinned)


class _Key:
    """The test token's key as the firmware's `TokenKey` port."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    @property
    def public_key_der(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, ec.ECDSA(hashes.SHA256()))

    def exchange(self, peer_public_der: bytes) -> bytes:
        peer = serialization.load_der_public_key(peer_public_der)
        assert isinstance(peer, ec.EllipticCurvePublicKey)
        return self._key.exchange(ec.ECDH(), peer)


def test_a_token_that_knows_no_ocra_field_still_opens_the_bundle(enroll: Enrollment) -> None:
    """`version` stays 1: today's firmware checks the signature over every field, ignores
    the fields it does not know, and gets the TOTP credential as before."""
    token: TokenClient = enroll.token()
    provisioned = enroll.register(token, enroll.customer())
    assert set(OCRA_FIELDS) <= set(provisioned.bundle) and provisioned.bundle["version"] == 1
    assert token.pinned is not None
    credential = firmware_bundle.open_bundle(provisioned.bundle, _Key(token.key), token.pinned)
    assert credential.seed == provisioned.seed
