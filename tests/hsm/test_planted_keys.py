"""The attacker who holds the user PIN puts a key of its own under the next label of a
long-term key (`otp-audit-mac-v<n+1>`, `otp-provisioning-v<n+1>`): a key whose value it
knows would let it seal audit heads or sign provisioning data offline, for ever. Such a
key is never used, and the proof reports it (`hsm.keys.KeyRing`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import KDF, Attribute, KeyType, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from hsm import Hsm
from hsm.keys import KeyPurpose, key_label

Planter = Callable[[pkcs11.Session, str], list[Any]]


def _next_label(hsm: Hsm, purpose: KeyPurpose) -> str:
    return key_label(purpose, max(hsm._keys.versions(purpose)) + 1)


def _known_audit_key(session: pkcs11.Session, label: str) -> list[Any]:
    """An HMAC key with a value of the attacker's choice, as kept-secret as it can ask."""
    return [
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: secrets.token_bytes(32),
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
                Attribute.VERIFY: True,
                Attribute.LABEL: label,
                Attribute.MODIFIABLE: False,
            }
        )
    ]


def _derived_audit_key(session: pkcs11.Session, label: str) -> list[Any]:
    """An HMAC key derived by ECDH between a key generated in the HSM and a point of the
    attacker's: the attacker computes the same secret outside. On SoftHSM 2.6 it reads
    ALWAYS_SENSITIVE and NEVER_EXTRACTABLE true; only CKA_LOCAL false tells it apart."""
    public, private = session.generate_keypair(
        KeyType.EC,
        store=False,
        capabilities=MechanismFlag.DERIVE,
        public_template={Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
    )
    theirs = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = theirs.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    try:
        derived = private.derive_key(
            KeyType.GENERIC_SECRET,
            256,
            mechanism_param=(KDF.NULL, None, point),
            store=True,
            label=label,
            capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
            template={
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.MODIFIABLE: False,
            },
        )
    finally:
        public.destroy()
        private.destroy()
    return [derived]


def _known_provisioning_key(session: pkcs11.Session, label: str) -> list[Any]:
    """An EC P-256 key pair whose private value the attacker chose."""
    mine = ec.generate_private_key(ec.SECP256R1())
    params = encode_named_curve_parameters("secp256r1")
    point = mine.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    private = session.create_object(
        {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: params,
            Attribute.VALUE: mine.private_numbers().private_value.to_bytes(32, "big"),
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.DERIVE: False,
            Attribute.LABEL: label,
        }
    )
    public = session.create_object(
        {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: params,
            Attribute.EC_POINT: b"\x04\x41" + point,
            Attribute.TOKEN: True,
            Attribute.VERIFY: True,
            Attribute.LABEL: label,
        }
    )
    return [private, public]


@pytest.fixture
def plant(hsm: Hsm) -> Iterator[Callable[[Planter, str], None]]:
    """Plant objects with the session's PIN; destroyed (and forgotten) after the test."""
    planted: list[Any] = []

    def run(planter: Planter, label: str) -> None:
        planted.extend(hsm._run(lambda session: planter(session, label)))
        hsm.reload_keys()

    yield run
    hsm._run(lambda _session: [obj.destroy() for obj in planted])
    hsm.reload_keys()


def _reported(hsm: Hsm, label: str) -> str:
    proof = hsm.prove_extraction()
    [attempt] = [a for a in proof.attempts if a.guarantee == "attributes" and a.subject == label]
    assert not attempt.held
    assert "attributes" in hsm.status().missing_guarantees
    return attempt.detail


def test_a_planted_audit_key_with_a_known_value_never_seals(
    hsm: Hsm, plant: Callable[[Planter, str], None]
) -> None:
    version, _mac = hsm.audit_mac(b"head")
    label = _next_label(hsm, KeyPurpose.AUDIT_MAC)
    plant(_known_audit_key, label)
    assert hsm.audit_mac(b"head")[0] == version
    assert hsm.keyed_digest(b"test", b"code") == hsm.keyed_digest(b"test", b"code")
    assert "ALWAYS_SENSITIVE=false, NEVER_EXTRACTABLE=false" in _reported(hsm, label)


@pytest.mark.softhsm
def test_a_planted_audit_key_derived_from_the_attackers_point_never_seals(
    hsm: Hsm, plant: Callable[[Planter, str], None]
) -> None:
    version, _mac = hsm.audit_mac(b"head")
    label = _next_label(hsm, KeyPurpose.AUDIT_MAC)
    plant(_derived_audit_key, label)
    assert hsm.audit_mac(b"head")[0] == version
    assert _reported(hsm, label) == "reads back LOCAL=false"


def test_a_planted_provisioning_key_with_a_known_value_never_signs(
    hsm: Hsm, plant: Callable[[Planter, str], None]
) -> None:
    version, point = hsm.provisioning_public_key()
    label = _next_label(hsm, KeyPurpose.PROVISIONING)
    plant(_known_provisioning_key, label)
    assert hsm.sign_provisioning(b"bundle")[0] == version
    assert hsm.provisioning_public_key() == (version, point)
    assert "ALWAYS_SENSITIVE=false, NEVER_EXTRACTABLE=false" in _reported(hsm, label)


def _current_label(hsm: Hsm, purpose: KeyPurpose) -> str:
    return key_label(purpose, hsm._keys.current_version(purpose))


def test_a_second_object_under_the_audit_keys_own_label_never_seals(
    hsm: Hsm, plant: Callable[[Planter, str], None]
) -> None:
    version, mac = hsm.audit_mac(b"head")
    label = _current_label(hsm, KeyPurpose.AUDIT_MAC)
    plant(_known_audit_key, label)
    assert hsm.audit_mac(b"head") == (version, mac)
    assert _reported(hsm, label) == f"2 objects are labelled {label}"


def test_a_second_key_pair_under_the_provisioning_keys_own_label_changes_nothing(
    hsm: Hsm, plant: Callable[[Planter, str], None]
) -> None:
    version, point = hsm.provisioning_public_key()
    label = _current_label(hsm, KeyPurpose.PROVISIONING)
    plant(_known_provisioning_key, label)
    assert hsm.provisioning_public_key() == (version, point)
    signed_by, signature = hsm.sign_provisioning(b"bundle")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public.verify(encode_dss_signature(r, s), b"bundle", ec.ECDSA(hashes.SHA256()))
    assert signed_by == version
    detail = _reported(hsm, label)
    assert f"2 objects are labelled {label}" in detail
    assert f"2 objects are labelled {label} (public)" in detail
