"""The provisioning key signs with the version the caller names (bundles name their key)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.hashes import SHA256

from hsm import Hsm, KeyNotFound


def test_a_signature_verifies_under_the_version_it_names(hsm: Hsm) -> None:
    version, point = hsm.provisioning_public_key()
    data = b"bundle bytes naming otp-provisioning-v%d" % version
    signed_with, signature = hsm.sign_provisioning(data, version)
    assert signed_with == version
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public.verify(
        utils.encode_dss_signature(r, s),
        hashlib.sha256(data).digest(),
        ec.ECDSA(utils.Prehashed(SHA256())),
    )
    with pytest.raises(KeyNotFound):
        hsm.sign_provisioning(data, version + 99)
