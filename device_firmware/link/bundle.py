"""The provisioning bundle (docs/protocol.md §4): checked, then opened into a `Credential`.

In this order, and nothing in the bundle is used before its step allows it:

1. the ECDSA P-256 signature (raw ``r || s``) over the canonical JSON of every other field
   verifies under the PINNED provisioning key;
2. ``token_public_key`` is this token's own point and ``device_id`` its own device ID;
3. the format is the one this firmware knows (version 1, ``ecdh-p256-aes256ecb-ctr``,
   ``aes256-kw-pad``) and every field has its type;
4. the seed is recovered: ``Z`` = ECDH(token key, ``ephemeral_public_key``);
   ``H`` = SHA-256(``otp-provisioning-v1`` 0x00 ``credential_id`` || token point ||
   ephemeral point); ``K`` = AES-256-ECB under ``Z`` of ``H[0:15] 01 H[0:15] 02``;
   seed = RFC 5649 unwrap of ``wrapped_seed`` under ``K``, cut to ``seed_length``;
5. a credential that signs transfers carries all three of ``ocra_suite`` (a suite this
   token computes), ``ocra_wrapped_seed`` and ``ocra_seed_length``: its OCRA seed is
   recovered exactly as the seed, under the same ``K``. A bundle with none of them (every
   bundle before them) opens as before; one with only some is refused.

Any failure raises `BundleRejected` (a core `LinkError`) saying which check failed; the
messages never carry the seed or a key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from device_firmware.core import device_id as device_ids
from device_firmware.core.errors import BundleRejected, InvalidRecord
from device_firmware.core.records import OCRA_SUITES, Algorithm, Credential
from device_firmware.link.signing import from_b64url
from device_firmware.link.token_key import TokenKey, der_of_point, point_of, public_key_of

VERSION = 1
KDF = "ecdh-p256-aes256ecb-ctr"
WRAP = "aes256-kw-pad"
CONTEXT = b"otp-provisioning-v1"
OCRA_FIELDS = ("ocra_suite", "ocra_wrapped_seed", "ocra_seed_length")
SIGNATURE_BYTES = 64
_HALF = SIGNATURE_BYTES // 2

Bundle = Mapping[str, Any]


def canonical(value: object) -> bytes:
    """Canonical JSON: UTF-8, keys sorted, no whitespace, non-ASCII written as itself."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse(content: bytes) -> dict[str, Any]:
    """The bundle object in an answer's body (duplicate keys refused).

    Raises:
        BundleRejected: not a JSON object.
    """
    try:
        document = json.loads(content, object_pairs_hook=_unique_keys)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleRejected("the bank's answer is not a provisioning bundle") from exc
    if not isinstance(document, dict):
        raise BundleRejected("the bank's answer is not a provisioning bundle")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key appears twice")
    return document


def check_signature(bundle: Bundle, provisioning_point: bytes) -> None:
    """Step 1: the signature verifies under the pinned provisioning key.

    Raises:
        BundleRejected: missing, malformed, or made by another key or over other bytes.
    """
    signature = bundle.get("signature")
    if not isinstance(signature, str):
        raise BundleRejected("the bundle is not signed")
    try:
        raw = from_b64url(signature)
        pinned = public_key_of(provisioning_point)
    except ValueError as exc:
        raise BundleRejected("the bundle's signature or the pinned key is malformed") from exc
    if len(raw) != SIGNATURE_BYTES:
        raise BundleRejected("the bundle's signature is not r || s")
    der = utils.encode_dss_signature(
        int.from_bytes(raw[:_HALF], "big"), int.from_bytes(raw[_HALF:], "big")
    )
    signed = canonical({name: value for name, value in bundle.items() if name != "signature"})
    try:
        pinned.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BundleRejected(
            "the bundle's signature does not verify under the pinned provisioning key"
        ) from None


def open_bundle(bundle: Bundle, key: TokenKey, provisioning_point: bytes) -> Credential:
    """Check `bundle` (signature, addressee, format) and recover its credential.

    Args:
        bundle: the parsed bundle.
        key: this token's key (the bundle must be addressed to it).
        provisioning_point: the pinned provisioning key (uncompressed point).

    Raises:
        BundleRejected: a check failed; nothing from the bundle was used.
    """
    check_signature(bundle, provisioning_point)
    own_point = point_of(key.public_key_der)
    if _bytes(bundle, "token_public_key") != own_point:
        raise BundleRejected("the bundle is for another token's key")
    if _text(bundle, "device_id") != device_ids.make(key.public_key_der):
        raise BundleRejected("the bundle names another device ID")
    if _integer(bundle, "version") != VERSION:
        raise BundleRejected(f"bundle version {bundle['version']!r} is not supported")
    if _text(bundle, "kdf") != KDF or _text(bundle, "wrap") != WRAP:
        raise BundleRejected("the bundle uses a key derivation or wrap this token does not know")
    credential_id = _text(bundle, "credential_id")
    ephemeral_point = _bytes(bundle, "ephemeral_public_key")
    seed = recover_seed(
        key,
        credential_id,
        own_point,
        ephemeral_point,
        _bytes(bundle, "wrapped_seed"),
        _integer(bundle, "seed_length"),
    )
    ocra_suite, ocra_seed = _ocra(bundle, key, credential_id, own_point, ephemeral_point)
    try:
        return Credential(
            credential_id=credential_id,
            issuer=_text(bundle, "issuer"),
            username=_text(bundle, "username"),
            display_name=_text(bundle, "display_name"),
            seed=seed,
            algorithm=Algorithm(_text(bundle, "algorithm")),
            digits=_integer(bundle, "digits"),
            period=_integer(bundle, "period"),
            ocra_suite=ocra_suite,
            ocra_seed=ocra_seed,
        )
    except (InvalidRecord, ValueError) as exc:
        raise BundleRejected(f"the bundle's credential is not acceptable: {exc}") from exc


def _ocra(
    bundle: Bundle, key: TokenKey, credential_id: str, token_point: bytes, ephemeral_point: bytes
) -> tuple[str | None, bytes | None]:
    """Step 5: the OCRA suite and seed, or (None, None) for a credential without them.

    Raises:
        BundleRejected: only some of the three fields, a suite this token cannot compute,
            or a seed that does not unwrap.
    """
    present = [name for name in OCRA_FIELDS if name in bundle]
    if not present:
        return None, None
    if len(present) != len(OCRA_FIELDS):
        missing = ", ".join(name for name in OCRA_FIELDS if name not in bundle)
        raise BundleRejected(f"the bundle's OCRA seed comes without {missing}")
    suite = _text(bundle, "ocra_suite")
    if suite not in OCRA_SUITES:
        raise BundleRejected(f"the bundle's OCRA suite {suite!r} is not one this token computes")
    seed = recover_seed(
        key,
        credential_id,
        token_point,
        ephemeral_point,
        _bytes(bundle, "ocra_wrapped_seed"),
        _integer(bundle, "ocra_seed_length"),
    )
    return suite, seed


def transport_key(
    z: bytes, credential_id: str, token_point: bytes, ephemeral_point: bytes
) -> bytes:
    """``K`` of protocol §4 step 3: the AES-256 key that wraps the seed.

    Raises:
        BundleRejected: the credential id is not ASCII.
    """
    try:
        context = CONTEXT + b"\x00" + credential_id.encode("ascii")
    except UnicodeEncodeError:
        raise BundleRejected("the credential id is not ASCII") from None
    h = hashlib.sha256(context + token_point + ephemeral_point).digest()
    # Two blocks of a counter-mode KDF with AES-256 as its PRF (the HSM's
    # CKM_AES_ECB_ENCRYPT_DATA): ECB is right here, each block is a fresh PRF input.
    encryptor = Cipher(algorithms.AES(z), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(h[:15] + b"\x01" + h[:15] + b"\x02") + encryptor.finalize()


def recover_seed(
    key: TokenKey,
    credential_id: str,
    token_point: bytes,
    ephemeral_point: bytes,
    wrapped_seed: bytes,
    seed_length: int,
) -> bytes:
    """The seed: ECDH with the server's one-time key, the KDF, RFC 5649 unwrap, cut.

    Raises:
        BundleRejected: a bad point, a failed unwrap, or an impossible length.
    """
    try:
        z = key.exchange(der_of_point(ephemeral_point))
    except ValueError as exc:
        raise BundleRejected("the bundle's one-time public key is not a P-256 point") from exc
    try:
        padded = aes_key_unwrap_with_padding(
            transport_key(z, credential_id, token_point, ephemeral_point), wrapped_seed
        )
    except (InvalidUnwrap, ValueError) as exc:
        raise BundleRejected("the seed does not unwrap under the transport key") from exc
    if not 0 < seed_length <= len(padded):
        raise BundleRejected("the bundle's seed_length does not fit the wrapped seed")
    return padded[:seed_length]


def _text(bundle: Bundle, name: str) -> str:
    value = bundle.get(name)
    if not isinstance(value, str):
        raise BundleRejected(f"the bundle's {name} is missing or not text")
    return value


def _integer(bundle: Bundle, name: str) -> int:
    value = bundle.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BundleRejected(f"the bundle's {name} is missing or not an integer")
    return value


def _bytes(bundle: Bundle, name: str) -> bytes:
    try:
        return from_b64url(_text(bundle, name))
    except ValueError:
        raise BundleRejected(f"the bundle's {name} is not base64url") from None
