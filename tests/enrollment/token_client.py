"""A token client written from docs/protocol.md alone (no server or token code imported).

It is the independent check of the protocol: if the server and this page disagree, the
enrollment tests fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERHOEFF_D = [
    "0123456789",
    "1234067895",
    "2340178956",
    "3401289567",
    "4012395678",
    "5987604321",
    "6598710432",
    "7659821043",
    "8765932104",
    "9876543210",
]
VERHOEFF_P = [
    "0123456789",
    "1576283094",
    "5803796142",
    "8916043527",
    "9453126870",
    "4286573901",
    "2793806415",
    "7046913258",
]
VERHOEFF_INV = "0432156789"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verhoeff_check(body: str) -> str:
    c = 0
    for i, digit in enumerate(reversed(body)):
        c = int(VERHOEFF_D[c][int(VERHOEFF_P[(i + 1) % 8][int(digit)])])
    return VERHOEFF_INV[c]


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def device_id_of(key: ec.EllipticCurvePublicKey) -> str:
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    body = f"{int.from_bytes(hashlib.sha256(spki).digest()[:6], 'big'):015d}"
    return body + verhoeff_check(body)


class BundleRejected(Exception):
    """The bundle fails a check of protocol §4."""


def open_bundle(
    bundle: dict[str, Any], token_key: ec.EllipticCurvePrivateKey, pinned_point: bytes
) -> bytes:
    """Check the bundle (signature, addressee) and recover the seed (protocol §4)."""
    return open_bundle_seeds(bundle, token_key, pinned_point)[0]


def open_bundle_seeds(
    bundle: dict[str, Any], token_key: ec.EllipticCurvePrivateKey, pinned_point: bytes
) -> tuple[bytes, bytes | None]:
    """Check the bundle and recover the seed and, when the bundle carries one, the OCRA
    seed (protocol §4: the same transport key, cut to `ocra_seed_length`)."""
    signed = canonical({k: v for k, v in bundle.items() if k != "signature"})
    raw = unb64url(bundle["signature"])
    if len(raw) != 64:
        raise BundleRejected("signature is not r || s")
    der = utils.encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    pinned = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pinned_point)
    try:
        pinned.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except Exception as exc:
        raise BundleRejected("the signature does not verify") from exc
    own_point = point_of(token_key.public_key())
    if unb64url(bundle["token_public_key"]) != own_point:
        raise BundleRejected("the bundle is for another token")
    if bundle["device_id"] != device_id_of(token_key.public_key()):
        raise BundleRejected("the bundle names another device ID")
    ephemeral_point = unb64url(bundle["ephemeral_public_key"])
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ephemeral_point)
    z = token_key.exchange(ec.ECDH(), ephemeral)
    context = b"otp-provisioning-v1\x00" + bundle["credential_id"].encode()
    h = hashlib.sha256(context + own_point + ephemeral_point).digest()
    encryptor = Cipher(algorithms.AES(z), modes.ECB()).encryptor()  # noqa: S305 - KDF blocks
    k = encryptor.update(h[:15] + b"\x01" + h[:15] + b"\x02") + encryptor.finalize()
    seed = aes_key_unwrap_with_padding(k, unb64url(bundle["wrapped_seed"]))
    ocra_seed = None
    if "ocra_wrapped_seed" in bundle:
        ocra_seed = aes_key_unwrap_with_padding(k, unb64url(bundle["ocra_wrapped_seed"]))
        ocra_seed = ocra_seed[: bundle["ocra_seed_length"]]
    return seed[: bundle["seed_length"]], ocra_seed


@dataclass
class Provisioned:
    bundle: dict[str, Any]
    seed: bytes
    ocra_seed: bytes | None = None

    def totp(self) -> pyotp.TOTP:
        digest = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}[self.bundle["algorithm"]]
        return pyotp.TOTP(
            base64.b32encode(self.seed).decode(),
            digits=self.bundle["digits"],
            interval=self.bundle["period"],
            digest=digest,
        )


class TokenClient:
    """A token talking to the server over any httpx-compatible client."""

    def __init__(
        self,
        http: Any,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.point = point_of(self.key.public_key())
        self.device_id = device_id_of(self.key.public_key())
        self._clock = clock
        self.offset = 0.0
        self.pinned: bytes | None = None
        self.last_request: tuple[str, str, bytes, dict[str, str]] | None = None

    def now(self) -> float:
        return self._clock() + self.offset

    def first_contact(self) -> None:
        """Set the clock offset and pin the provisioning key (protocol §3)."""
        server_time = self.http.get("/api/v1/time").json()["server_time"]
        self.offset = server_time - self._clock()
        self.pinned = unb64url(self.http.get("/api/v1/provisioning-key").json()["public_key"])

    def signature_headers(
        self,
        method: str,
        path: str,
        content: bytes,
        *,
        signer: ec.EllipticCurvePrivateKey | None = None,
    ) -> dict[str, str]:
        """The four `X-OTP-*` headers that sign `content` sent to `path` (protocol §2)."""
        timestamp = str(int(self.now()))
        nonce = b64url(secrets.token_bytes(16))
        signing_input = "\n".join(
            [
                "otp-token-request-v1",
                method,
                path,
                timestamp,
                nonce,
                hashlib.sha256(content).hexdigest(),
            ]
        ).encode()
        signature = (signer or self.key).sign(signing_input, ec.ECDSA(hashes.SHA256()))
        return {
            "X-OTP-Public-Key": b64url(self.point),
            "X-OTP-Timestamp": timestamp,
            "X-OTP-Nonce": nonce,
            "X-OTP-Signature": b64url(signature),
        }

    def signed(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        signer: ec.EllipticCurvePrivateKey | None = None,
    ) -> Any:
        content = json.dumps(body).encode() if body is not None else b""
        headers = {
            "Content-Type": "application/json",
            **self.signature_headers(method, path, content, signer=signer),
        }
        self.last_request = (method, path, content, headers)
        return self.http.request(method, path, content=content or None, headers=headers)

    def replay_last(self) -> Any:
        assert self.last_request is not None
        method, path, content, headers = self.last_request
        return self.http.request(method, path, content=content or None, headers=headers)

    def start_registration(self, username: str, password: str) -> Any:
        return self.signed(
            "POST",
            "/api/v1/registrations",
            {"username": username, "password": password, "device_id": self.device_id},
        )

    def confirm(self, registration_id: str, code: str) -> Any:
        return self.signed(
            "POST", f"/api/v1/registrations/{registration_id}/confirm", {"code": code}
        )

    def redeem(self, activation_code: str, device_id: str | None = None) -> Any:
        return self.signed(
            "POST",
            "/api/v1/activations/redeem",
            {"device_id": device_id or self.device_id, "activation_code": activation_code},
        )

    def provisioned(self, response: Any) -> Provisioned:
        assert response.status_code == 200, response.text
        assert self.pinned is not None, "first_contact() pins the provisioning key"
        bundle = response.json()
        return Provisioned(bundle, *open_bundle_seeds(bundle, self.key, self.pinned))
