"""The bank's enrollment API in memory, for `httpx.MockTransport`, written from docs/protocol.md.

It checks every signed request as the page says (headers, time within 300 s, fresh nonce,
ECDSA over the six-line signing input, written out here by hand rather than taken from the
link), and issues real bundles: a one-time P-256 key, ECDH, the AES-256-ECB counter KDF,
RFC 5649 wrap, an ECDSA ``r || s`` signature over the canonical JSON; with `signs_transfers`,
the credential's 32-byte OCRA seed as well, wrapped under the same transport key. Tests bend
it with `refuse_next`, `tamper`, `bundle_signer` and `addressee`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from device_firmware.core import device_id as device_ids

SKEW = 300
OCRA_SUITE = "OCRA-1:HOTP-SHA256-8:QA20-T1M"
KEY_ID = "otp-provisioning-v1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def spki_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def answer(status: int, body: Any = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status)
    return httpx.Response(status, json=body)


def refusal(status: int, detail: str) -> httpx.Response:
    return answer(status, {"status_code": status, "detail": detail})


@dataclass
class Customer:
    password: str
    email: str
    display_name: str


@dataclass
class MockBank:
    """The bank. `now` is its clock (a callable, so a test can tie it to the token's)."""

    now: Callable[[], float]
    provisioning: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    customers: dict[str, Customer] = field(default_factory=dict)
    mailbox: dict[str, list[str]] = field(default_factory=dict)
    seeds: dict[str, bytes] = field(default_factory=dict)
    ocra_seeds: dict[str, bytes] = field(default_factory=dict)
    signs_transfers: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    refuse_next: list[httpx.Response] = field(default_factory=list)
    tamper: Callable[[dict[str, Any]], None] | None = None
    bundle_signer: ec.EllipticCurvePrivateKey | None = None
    addressee: ec.EllipticCurvePublicKey | None = None
    _pending: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    _activations: dict[tuple[str, str], str] = field(default_factory=dict)
    _credentials: dict[str, tuple[bytes, bool]] = field(default_factory=dict)
    _nonces: set[str] = field(default_factory=set)

    def add_customer(self, username: str, password: str, display_name: str = "") -> None:
        self.customers[username] = Customer(
            password, f"{username}@correo.com", display_name or username
        )

    def portal(self, username: str, device_id: str) -> str:
        """The activation code the portal shows (9 digits + a check digit, grouped)."""
        code = f"{secrets.randbelow(10**10):010d}"
        self._activations[(device_id, code)] = username
        return f"{code[:5]} {code[5:]}"

    def active(self, credential_id: str) -> bool:
        return self._credentials[credential_id][1]

    @property
    def published_key(self) -> bytes:
        return point_of(self.provisioning.public_key())

    # the transport ------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "GET" and path == "/api/v1/time":
            return answer(200, {"server_time": self.now()})
        if request.method == "GET" and path == "/api/v1/provisioning-key":
            point = self.published_key
            return answer(
                200,
                {
                    "key_id": KEY_ID,
                    "public_key": b64url(point),
                    "fingerprint": hashlib.sha256(point).hexdigest(),
                },
            )
        if self.refuse_next:
            return self.refuse_next.pop(0)
        point = self._check_signature(request)
        if isinstance(point, httpx.Response):
            return point
        body = json.loads(request.content) if request.content else {}
        parts = path.strip("/").split("/")
        if request.method == "POST" and path == "/api/v1/registrations":
            return self._register(point, body)
        if request.method == "POST" and parts[:3] == ["api", "v1", "registrations"]:
            return self._confirm(point, parts[3], body["code"])
        if request.method == "POST" and path == "/api/v1/activations/redeem":
            return self._redeem(point, body)
        if request.method == "DELETE" and parts[:3] == ["api", "v1", "credentials"]:
            return self._delete(point, parts[3])
        return refusal(404, "no such endpoint")

    def _check_signature(self, request: httpx.Request) -> bytes | httpx.Response:
        headers = request.headers
        try:
            point = unb64url(headers["x-otp-public-key"])
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            timestamp = headers["x-otp-timestamp"]
            nonce = headers["x-otp-nonce"]
            signature = unb64url(headers["x-otp-signature"])
        except (KeyError, ValueError):
            return refusal(401, "this request must be signed by the token")
        if abs(int(timestamp) - self.now()) > SKEW:
            return refusal(401, "the token's clock is too far from the server's")
        if nonce in self._nonces or not 16 <= len(nonce) <= 64:
            return refusal(401, "this request was sent before: a replayed request is refused")
        self._nonces.add(nonce)
        signing_input = (
            f"otp-token-request-v1\n{request.method}\n{request.url.path}\n{timestamp}\n"
            f"{nonce}\n{hashlib.sha256(request.content).hexdigest()}"
        ).encode()
        try:
            key.verify(signature, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return refusal(401, "the request signature does not verify")
        return point

    def _device_id(self, point: bytes) -> str:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        return device_ids.make(spki_of(key))

    def _register(self, point: bytes, body: dict[str, str]) -> httpx.Response:
        if body["device_id"] != self._device_id(point):
            return refusal(400, "the device ID does not belong to the key that signed")
        customer = self.customers.get(body["username"])
        if customer is None or not secrets.compare_digest(customer.password, body["password"]):
            return refusal(401, "the username or the password is not correct")
        code = f"{secrets.randbelow(10**8):08d}"
        registration_id = "reg_" + secrets.token_hex(12)
        self._pending[registration_id] = (body["username"], code, point)
        self.mailbox.setdefault(body["username"], []).append(code)
        return answer(
            202,
            {
                "registration_id": registration_id,
                "masked_email": customer.email[0] + "***@correo.com",
                "expires_at": int(self.now()) + 600,
            },
        )

    def _confirm(self, point: bytes, registration_id: str, code: str) -> httpx.Response:
        pending = self._pending.get(registration_id)
        if pending is None or pending[2] != point:
            return refusal(404, "no such registration for this token")
        username, expected, _ = pending
        if code != expected:
            return refusal(400, "the code is not correct")
        del self._pending[registration_id]
        return answer(200, self.issue(point, username))

    def _redeem(self, point: bytes, body: dict[str, str]) -> httpx.Response:
        code = body["activation_code"].replace(" ", "")
        username = self._activations.pop((body["device_id"], code), None)
        if username is None or body["device_id"] != self._device_id(point):
            return refusal(400, "the device ID or the activation code is not correct: try again")
        return answer(200, self.issue(point, username))

    def _delete(self, point: bytes, credential_id: str) -> httpx.Response:
        found = self._credentials.get(credential_id)
        if found is None or found[0] != point:
            return refusal(404, "no such credential on this token")
        self._credentials[credential_id] = (point, False)
        return answer(204)

    # bundles ------------------------------------------------------------------------------

    def issue(self, point: bytes, username: str) -> dict[str, Any]:
        """A provisioning bundle for the token whose key is `point` (protocol §4)."""
        addressee = self.addressee or ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), point
        )
        token_point = point_of(addressee)
        credential_id = "cred_" + secrets.token_hex(10)
        seed = secrets.token_bytes(20)
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        ephemeral_point = point_of(ephemeral.public_key())
        z = ephemeral.exchange(ec.ECDH(), addressee)
        h = hashlib.sha256(
            b"otp-provisioning-v1\x00" + credential_id.encode() + token_point + ephemeral_point
        ).digest()
        encryptor = Cipher(algorithms.AES(z), modes.ECB()).encryptor()  # noqa: S305 - the KDF
        k = encryptor.update(h[:15] + b"\x01" + h[:15] + b"\x02") + encryptor.finalize()
        customer = self.customers[username]
        bundle: dict[str, Any] = {
            "version": 1,
            "credential_id": credential_id,
            "issuer": "Banco de Pruebas",
            "username": username,
            "display_name": customer.display_name,
            "algorithm": "SHA1",
            "digits": 6,
            "period": 60,
            "seed_length": len(seed),
            "server_time": int(self.now()),
            "device_id": device_ids.make(spki_of(addressee)),
            "token_public_key": b64url(token_point),
            "ephemeral_public_key": b64url(ephemeral_point),
            "wrapped_seed": b64url(aes_key_wrap_with_padding(k, seed)),
            "kdf": "ecdh-p256-aes256ecb-ctr",
            "wrap": "aes256-kw-pad",
            "provisioning_key": KEY_ID,
        }
        if self.signs_transfers:
            ocra_seed = secrets.token_bytes(32)
            bundle["ocra_suite"] = OCRA_SUITE
            bundle["ocra_wrapped_seed"] = b64url(aes_key_wrap_with_padding(k, ocra_seed))
            bundle["ocra_seed_length"] = len(ocra_seed)
            self.ocra_seeds[credential_id] = ocra_seed
        signer = self.bundle_signer or self.provisioning
        r, s = utils.decode_dss_signature(signer.sign(canonical(bundle), ec.ECDSA(hashes.SHA256())))
        bundle["signature"] = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        if self.tamper is not None:
            self.tamper(bundle)
        self.seeds[credential_id] = seed
        self._credentials[credential_id] = (point, True)
        return bundle
