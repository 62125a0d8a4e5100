"""The token's identity: an EC P-256 key pair, made on first start and after every wipe.

The public key (DER SubjectPublicKeyInfo) names the token through its device ID and is sent
to the bank when provisioning; the private key signs the token's provisioning requests and
derives (ECDH) the transport key that unwraps a seed from the bank's bundle.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device_firmware.core.errors import VaultUnreadable


class DeviceIdentity:
    """An EC P-256 key pair.

    Args:
        private_key: the key; use `generate()` or `from_der()` to get one.
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise VaultUnreadable(f"the identity uses {private_key.curve.name}, not P-256")
        self._private_key = private_key

    def __repr__(self) -> str:
        return f"DeviceIdentity(public_key=<{len(self.public_key_der)} bytes>)"

    @classmethod
    def generate(cls) -> DeviceIdentity:
        """A new random key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_der(cls, blob: bytes) -> DeviceIdentity:
        """The identity stored as unencrypted PKCS#8 DER.

        Raises:
            VaultUnreadable: not a P-256 private key.
        """
        try:
            key = serialization.load_der_private_key(blob, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise VaultUnreadable("the stored identity is damaged") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise VaultUnreadable("the stored identity is not an EC key")
        return cls(key)

    def to_der(self) -> bytes:
        """The private key as unencrypted PKCS#8 DER (see `FileVault` for why unencrypted)."""
        return self._private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo (the input of the device ID)."""
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, message: bytes) -> bytes:
        """ECDSA P-256 / SHA-256 signature of `message`, DER-encoded."""
        return self._private_key.sign(message, ec.ECDSA(hashes.SHA256()))

    def exchange(self, peer_public_der: bytes) -> bytes:
        """The raw ECDH shared secret with a peer's P-256 public key (DER SPKI).

        Raises:
            ValueError: the peer key is not a P-256 public key.
        """
        peer = serialization.load_der_public_key(peer_public_der)
        if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(
            peer.curve, ec.SECP256R1
        ):
            raise ValueError("the peer key is not an EC P-256 public key")
        return self._private_key.exchange(ec.ECDH(), peer)
