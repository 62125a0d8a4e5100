"""Exercise each mechanism the product needs on throw-away session objects."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag
from pkcs11.util.ec import encode_named_curve_parameters

_SESSION_KEY = {Attribute.TOKEN: False, Attribute.SENSITIVE: True}


def _hmac(session: pkcs11.Session, mechanism: Mechanism, bits: int) -> None:
    key: Any = session.generate_key(
        KeyType.GENERIC_SECRET, bits, capabilities=MechanismFlag.SIGN, template=_SESSION_KEY
    )
    try:
        key.sign(b"self-test", mechanism=mechanism)
    finally:
        key.destroy()


def _wrap_pad(session: pkcs11.Session) -> None:
    kek: Any = session.generate_key(
        KeyType.AES,
        256,
        template=_SESSION_KEY,
        capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP,
    )
    seed = session.generate_key(
        KeyType.GENERIC_SECRET,
        160,
        capabilities=MechanismFlag.SIGN,
        template={**_SESSION_KEY, Attribute.EXTRACTABLE: True},
    )
    try:
        blob = kek.wrap_key(seed, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        kek.unwrap_key(
            pkcs11.ObjectClass.SECRET_KEY,
            KeyType.GENERIC_SECRET,
            blob,
            mechanism=Mechanism.AES_KEY_WRAP_PAD,
            capabilities=MechanismFlag.SIGN,
            template=_SESSION_KEY,
        ).destroy()
    finally:
        seed.destroy()
        kek.destroy()


def _ec_pair(session: pkcs11.Session, capabilities: MechanismFlag) -> tuple[Any, Any]:
    return session.generate_keypair(
        KeyType.EC,
        capabilities=capabilities,
        public_template={
            Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1"),
            Attribute.TOKEN: False,
        },
        private_template=_SESSION_KEY,
    )


def _ecdsa(session: pkcs11.Session) -> None:
    # SoftHSM 2.6 has no CKM_ECDSA_SHA256: the digest is made outside, signed with CKM_ECDSA.
    digest = hashlib.sha256(b"self-test").digest()
    public, private = _ec_pair(session, MechanismFlag.SIGN | MechanismFlag.VERIFY)
    try:
        signature = private.sign(digest, mechanism=Mechanism.ECDSA)
        if not public.verify(digest, signature, mechanism=Mechanism.ECDSA):
            raise p11e.SignatureInvalid()
    finally:
        public.destroy()
        private.destroy()


def _ecdh(session: pkcs11.Session) -> None:
    from pkcs11 import KDF

    public, private = _ec_pair(session, MechanismFlag.DERIVE)
    try:
        point = public[Attribute.EC_POINT]
        derived = private.derive_key(
            KeyType.AES,
            256,
            mechanism_param=(KDF.NULL, None, point),
            template=_SESSION_KEY,
            capabilities=MechanismFlag.WRAP,
        )
        derived.destroy()
    finally:
        public.destroy()
        private.destroy()


CHECKS: dict[str, Callable[[pkcs11.Session], None]] = {
    "GENERIC_SECRET_KEY_GEN + SHA_1_HMAC": lambda s: _hmac(s, Mechanism.SHA_1_HMAC, 160),
    "SHA256_HMAC": lambda s: _hmac(s, Mechanism.SHA256_HMAC, 256),
    "SHA512_HMAC": lambda s: _hmac(s, Mechanism.SHA512_HMAC, 512),
    "AES_KEY_GEN + AES_KEY_WRAP_PAD": _wrap_pad,
    "EC_KEY_PAIR_GEN (P-256) + ECDSA": _ecdsa,
    "ECDH1_DERIVE (KDF NULL)": _ecdh,
}


def mechanism_self_test(session: pkcs11.Session) -> dict[str, str | None]:
    """Run every check; None means it works, else the PKCS#11 error's name."""
    results: dict[str, str | None] = {}
    for name, check in CHECKS.items():
        try:
            check(session)
        except p11e.PKCS11Error as exc:
            results[name] = type(exc).__name__
        else:
            results[name] = None
    return results
