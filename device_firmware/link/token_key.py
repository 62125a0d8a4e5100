"""The token's own key as the link sees it: something that signs and agrees keys.

The link never holds the private key's bytes. It asks a `KeySource` for the current
`TokenKey` before each request (a wipe makes a new identity, so the key can change between
two runs of the same link) and uses only its two private operations: ECDSA signing (proof of
possession, protocol §2) and ECDH (the transport key that unwraps a seed, protocol §4). Those
are the two operations a secure element or a PKCS#11 token offers on a key it never reveals,
so a hardware-backed identity can stand behind the same Protocol.
`device_firmware.vault.DeviceIdentity` (from `FileVault.identity`) is the file-based one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

POINT_BYTES = 65  # 04 || X || Y on P-256


class TokenKey(Protocol):
    """The token's EC P-256 key pair, used without exposing the private key."""

    @property
    def public_key_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo (what the device ID is made from)."""

    def sign(self, message: bytes) -> bytes:
        """The DER ECDSA P-256 / SHA-256 signature of `message`."""

    def exchange(self, peer_public_der: bytes) -> bytes:
        """The ECDH shared secret (x-coordinate, 32 bytes) with a P-256 public key (DER SPKI)."""


KeySource = Callable[[], TokenKey]
"""Returns the token's current key (e.g. the bound method `FileVault.identity`)."""


def point_of(public_key_der: bytes) -> bytes:
    """The uncompressed point (65 bytes) of a P-256 public key given as DER SPKI.

    Raises:
        ValueError: not an EC P-256 public key.
    """
    key = serialization.load_der_public_key(public_key_der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an EC P-256 public key")
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def public_key_of(point: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of an uncompressed point, checked to lie on the curve.

    Raises:
        ValueError: not a 65-byte uncompressed P-256 point on the curve.
    """
    if len(point) != POINT_BYTES or point[0] != 0x04:
        raise ValueError("not an uncompressed P-256 point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def der_of_point(point: bytes) -> bytes:
    """The DER SPKI of an uncompressed P-256 point (for `TokenKey.exchange`).

    Raises:
        ValueError: not a valid point.
    """
    return public_key_of(point).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
