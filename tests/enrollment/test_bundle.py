"""The bundle is for one token only, and any change to it is detected."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from tests.enrollment.conftest import Enrollment
from tests.enrollment.token_client import BundleRejected, b64url, open_bundle, unb64url


@pytest.fixture
def issued(enroll: Enrollment):  # type: ignore[no-untyped-def]
    token = enroll.token()
    provisioned = enroll.register(token, enroll.customer())
    return token, provisioned


def test_every_changed_field_fails_the_signature(issued) -> None:  # type: ignore[no-untyped-def]
    token, provisioned = issued
    original = provisioned.bundle
    for name, value in original.items():
        if name == "signature":
            continue
        bundle = copy.deepcopy(original)
        if isinstance(value, int):
            bundle[name] = value + 1
        elif name in ("ephemeral_public_key", "wrapped_seed", "token_public_key"):
            raw = bytearray(unb64url(value))
            raw[len(raw) // 2] ^= 0x01
            bundle[name] = b64url(bytes(raw))
        else:
            bundle[name] = value + "x"
        with pytest.raises(BundleRejected, match="signature"):
            open_bundle(bundle, token.key, token.pinned)


def test_every_changed_signature_byte_fails(issued) -> None:  # type: ignore[no-untyped-def]
    token, provisioned = issued
    raw = unb64url(provisioned.bundle["signature"])
    for position in range(0, 64, 7):
        forged = bytearray(raw)
        forged[position] ^= 0x80
        bundle = {**provisioned.bundle, "signature": b64url(bytes(forged))}
        with pytest.raises(BundleRejected, match="signature"):
            open_bundle(bundle, token.key, token.pinned)


def test_a_bundle_signed_by_another_key_is_refused(issued) -> None:  # type: ignore[no-untyped-def]
    token, provisioned = issued
    impostor = ec.generate_private_key(ec.SECP256R1()).public_key()
    from tests.enrollment.token_client import point_of

    with pytest.raises(BundleRejected, match="signature"):
        open_bundle(provisioned.bundle, token.key, point_of(impostor))


def test_another_device_cannot_unwrap_it(issued) -> None:  # type: ignore[no-untyped-def]
    token, provisioned = issued
    thief = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(BundleRejected, match="another token"):
        open_bundle(provisioned.bundle, thief, token.pinned)
    # even ignoring the addressee check, the thief's ECDH gives another transport key
    from tests.enrollment import token_client

    bundle = provisioned.bundle
    spoofed_point = token_client.point_of(thief.public_key())
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), unb64url(bundle["ephemeral_public_key"])
    )
    import hashlib

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

    z = thief.exchange(ec.ECDH(), ephemeral)
    h = hashlib.sha256(
        b"otp-provisioning-v1\x00"
        + bundle["credential_id"].encode()
        + spoofed_point
        + unb64url(bundle["ephemeral_public_key"])
    ).digest()
    enc = Cipher(algorithms.AES(z), modes.ECB()).encryptor()  # noqa: S305
    k = enc.update(h[:15] + b"\x01" + h[:15] + b"\x02") + enc.finalize()
    with pytest.raises(InvalidUnwrap):
        aes_key_unwrap_with_padding(k, unb64url(bundle["wrapped_seed"]))


def test_bundle_names_the_token_and_carries_no_plain_seed(issued) -> None:  # type: ignore[no-untyped-def]
    token, provisioned = issued
    bundle = provisioned.bundle
    assert bundle["device_id"] == token.device_id
    text = str(bundle)
    assert provisioned.seed.hex() not in text
    assert b64url(provisioned.seed) not in text
