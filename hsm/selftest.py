"""Exercise each mechanism the product needs on throw-away session objects."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from hsm.cryptoki import Cryptoki, handle_of
from hsm.wire_format import NoStandardWrap, WrapFormat

_SESSION_KEY = {Attribute.TOKEN: False, Attribute.SENSITIVE: True}


def _hmac(session: pkcs11.Session, mechanism: Mechanism, bits: int) -> None:
    key: Any = session.generate_key(
        KeyType.GENERIC_SECRET, bits, capabilities=MechanismFlag.SIGN, template=_SESSION_KEY
    )
    try:
        key.sign(b"self-test", mechanism=mechanism)
    finally:
        key.destroy()


def _wrap(session: pkcs11.Session, direct: Cryptoki, wrap: WrapFormat) -> None:
    """Wrap and unwrap a generated seed with the module's RFC 5649 mechanism (what the
    known-answer test found: `hsm.wire_format`), through the calls the product makes."""
    mechanism = wrap.require()
    handle = handle_of(session)
    kek = direct.generate_key(
        handle,
        Mechanism.AES_KEY_GEN,
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE_LEN: 32,
            **_SESSION_KEY,
            Attribute.WRAP: True,
            Attribute.UNWRAP: True,
        },
    )
    try:
        seed = direct.generate_key(
            handle,
            Mechanism.GENERIC_SECRET_KEY_GEN,
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE_LEN: 20,
                **_SESSION_KEY,
                Attribute.EXTRACTABLE: True,
                Attribute.SIGN: True,
            },
        )
        try:
            blob = direct.wrap(handle, kek, seed, mechanism)
        finally:
            direct.destroy(handle, seed)
        direct.destroy(handle, direct.unwrap_signing_seed(handle, kek, blob, mechanism))
    finally:
        direct.destroy(handle, kek)


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
    "EC_KEY_PAIR_GEN (P-256) + ECDSA": _ecdsa,
    "ECDH1_DERIVE (KDF NULL)": _ecdh,
}


def mechanism_self_test(
    session: pkcs11.Session, direct: Cryptoki, wrap: WrapFormat
) -> dict[str, str | None]:
    """Run every check; None means it works, else the PKCS#11 error's name. The wrap
    check uses the mechanism `wrap` found to be RFC 5649 and is named after it
    (`AES_KEY_GEN + <mechanism>`); on a module with none it fails, saying so."""
    wrap_name = "AES_KEY_GEN + " + (
        wrap.mechanism.name if wrap.mechanism is not None else "RFC 5649 wrap"
    )

    def wrap_check(s: pkcs11.Session) -> None:
        _wrap(s, direct, wrap)

    checks: dict[str, Callable[[pkcs11.Session], None]] = {**CHECKS, wrap_name: wrap_check}
    results: dict[str, str | None] = {}
    for name, check in checks.items():
        try:
            check(session)
        except p11e.PKCS11Error as exc:
            results[name] = type(exc).__name__
        except NoStandardWrap as exc:
            results[name] = str(exc)
        else:
            results[name] = None
    return results
