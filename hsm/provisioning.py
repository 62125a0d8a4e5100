"""Key transport to a customer's token (docs/design.md §3, docs/protocol.md).

Inside the HSM, in one call: generate the seed (and, for a credential that signs
transactions, an OCRA seed of its own, docs/protocol.md §6); wrap each under the current KEK
for the database; make an ephemeral EC P-256 key pair; derive Z = ECDH(ephemeral, token key)
(CKD_NULL: Z is the shared point's x-coordinate, as an AES-256 key that can only derive);
derive the transport key K = AES-256-ECB_Z(H[0:15] || 01 || H[0:15] || 02), where
H = SHA-256(context || token point || ephemeral point) — a counter-mode KDF with AES as the
PRF, because SoftHSM 2.6 refuses CKD_SHA256_KDF; wrap each seed under the same K as RFC 5649,
with the mechanism the module's known-answer test found (`hsm.wire_format`); destroy every
session object. Only wrapped blobs and public points leave. Both seeds are made by
`SeedStore.random_object`, so the OCRA seed is exactly what a TOTP seed is (docs/hsm.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from pkcs11 import KDF, Attribute, KeyType, Mechanism, MechanismFlag
from pkcs11.util.ec import encode_named_curve_parameters

from hsm.cryptoki import handle_of
from hsm.errors import InvalidSeedRequest
from hsm.keys import KeyPurpose, KeyRing
from hsm.ocra import OcraSuite
from hsm.otp import Algorithm
from hsm.seeds import SeedStore, WrappedSeed

POINT_LENGTH = 65  # uncompressed P-256 point: 04 || X || Y
_SESSION_ONLY = {Attribute.TOKEN: False, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False}


@dataclass(frozen=True)
class ProvisionedSeed:
    """A new seed: wrapped for the database, and wrapped for one token; with the OCRA
    seed made beside it, when one was asked for, wrapped the same two ways (under the same
    KEK version and the same transport key)."""

    stored: WrappedSeed
    ephemeral_point: bytes
    transport_blob: bytes
    ocra: ProvisionedOcraSeed | None = None


@dataclass(frozen=True)
class ProvisionedOcraSeed:
    """A credential's OCRA seed (docs/protocol.md §6): wrapped for the database and, under
    the bundle's transport key, for the token; for `suite` (its hash sets the length)."""

    suite: OcraSuite
    stored: WrappedSeed
    transport_blob: bytes


def kdf_input(context: bytes, token_point: bytes, ephemeral_point: bytes) -> bytes:
    """The 32 bytes encrypted under Z to give the transport key (see the module docstring)."""
    h = hashlib.sha256(context + token_point + ephemeral_point).digest()
    return h[:15] + b"\x01" + h[:15] + b"\x02"


def _unwrap_der_point(value: bytes) -> bytes:
    """CKA_EC_POINT comes DER-wrapped (an OCTET STRING around the point) from SoftHSM."""
    if len(value) == POINT_LENGTH + 2 and value[0] == 0x04 and value[1] == POINT_LENGTH:
        return value[2:]
    return value


def check_point(point: bytes) -> bytes:
    """Accept only an uncompressed P-256 point (the curve check happens in the derive)."""
    if len(point) != POINT_LENGTH or point[0] != 0x04:
        raise InvalidSeedRequest("a token public key is an uncompressed P-256 point (65 bytes)")
    return point


def provision(
    session: pkcs11.Session,
    seeds: SeedStore,
    keys: KeyRing,
    algorithm: Algorithm,
    token_point: bytes,
    context: bytes,
    transport_mechanism: Mechanism,
    ocra_suite: OcraSuite | None = None,
) -> ProvisionedSeed:
    """Generate a seed and wrap it twice: under the KEK, and for the token with
    `transport_mechanism` (RFC 5649 on this module; see above). With `ocra_suite`, an OCRA
    seed for the suite's hash too, wrapped the same two ways."""
    check_point(token_point)
    version = keys.current_version(KeyPurpose.SEED_WRAPPING)
    made: list[Any] = []
    try:
        seed = seeds.random_object(session, algorithm)
        made.append(seed)
        ocra_seed: Any = None
        if ocra_suite is not None:
            ocra_seed = seeds.random_object(session, ocra_suite.algorithm)
            made.append(ocra_seed)
        ephemeral_point, transport_key = _transport_key(session, made, token_point, context)

        def both_ways(obj: Any, length: int) -> tuple[WrappedSeed, bytes]:
            """`obj` wrapped under the KEK for the database, and under K for the token."""
            for_token = seeds.direct.wrap(
                handle_of(session), handle_of(transport_key), handle_of(obj), transport_mechanism
            )
            return seeds.wrap(session, obj, version, length), for_token

        stored, transport_blob = both_ways(seed, algorithm.seed_length)
        ocra = None
        if ocra_suite is not None:
            ocra = ProvisionedOcraSeed(
                ocra_suite, *both_ways(ocra_seed, ocra_suite.algorithm.seed_length)
            )
    finally:
        for obj in made:
            try:
                obj.destroy()
            except p11e.PKCS11Error:
                pass
    return ProvisionedSeed(stored, ephemeral_point, transport_blob, ocra)


def _transport_key(
    session: pkcs11.Session, made: list[Any], token_point: bytes, context: bytes
) -> tuple[bytes, Any]:
    """A one-time EC key pair, Z with the token's point, and K from Z (the module
    docstring): (the ephemeral point, K). Every object made is appended to `made`, for the
    caller to destroy."""
    pair: tuple[Any, Any] = session.generate_keypair(
        KeyType.EC,
        store=False,
        capabilities=MechanismFlag.DERIVE,
        public_template={
            Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1"),
            Attribute.TOKEN: False,
        },
        private_template=_SESSION_ONLY,
    )
    public, private = pair
    made += [public, private]
    ephemeral_point = _unwrap_der_point(public[Attribute.EC_POINT])
    try:
        z: Any = private.derive_key(
            KeyType.AES,
            256,
            mechanism_param=(KDF.NULL, None, token_point),
            capabilities=MechanismFlag.DERIVE,
            template=_SESSION_ONLY,
        )
    except (
        p11e.MechanismParamInvalid,
        p11e.ArgumentsBad,
        p11e.DomainParamsInvalid,
        p11e.AttributeValueInvalid,
        p11e.GeneralError,
    ) as exc:
        raise InvalidSeedRequest("the token public key is not a point on P-256") from exc
    made.append(z)
    transport_key: Any = z.derive_key(
        KeyType.AES,
        256,
        mechanism=Mechanism.AES_ECB_ENCRYPT_DATA,
        mechanism_param=kdf_input(context, token_point, ephemeral_point),
        capabilities=MechanismFlag.WRAP,
        template=_SESSION_ONLY,
    )
    made.append(transport_key)
    return ephemeral_point, transport_key


def sign(keys: KeyRing, data: bytes, version: int | None = None) -> tuple[int, bytes]:
    """ECDSA P-256 over SHA-256(data) with provisioning key `version` (default: the
    current one): (version, r || s)."""
    version = version or keys.current_version(KeyPurpose.PROVISIONING)
    private = keys.get(KeyPurpose.PROVISIONING, version)
    digest = hashlib.sha256(data).digest()
    # SoftHSM 2.6 has no CKM_ECDSA_SHA256: the digest is made here, signed with CKM_ECDSA.
    return version, bytes(private.sign(digest, mechanism=Mechanism.ECDSA))


def public_point(keys: KeyRing, version: int | None = None) -> tuple[int, bytes]:
    """The provisioning public key as an uncompressed point, with its version."""
    version = version or keys.current_version(KeyPurpose.PROVISIONING)
    return version, _unwrap_der_point(keys.public_key(version)[Attribute.EC_POINT])
