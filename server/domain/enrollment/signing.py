"""Signed token requests (docs/protocol.md §Requests): proof of possession of the token key.

The token signs, with ECDSA P-256 / SHA-256, the bytes

    otp-token-request-v1 \\n METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body))

and sends its public key, the timestamp, the nonce and the signature in headers. The server
checks the signature, that the timestamp is within the allowed skew of its clock, and that
the nonce was not seen before (a captured request cannot be replayed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Connection, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from server.db.models import RequestNonce
from server.errors import NotAuthenticated

PUBLIC_KEY = "x-otp-public-key"
TIMESTAMP = "x-otp-timestamp"
NONCE = "x-otp-nonce"
SIGNATURE = "x-otp-signature"
_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError when it is not."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def signing_input(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes a token signs."""
    return "\n".join(
        [
            "otp-token-request-v1",
            method.upper(),
            path,
            timestamp,
            nonce,
            hashlib.sha256(body).hexdigest(),
        ]
    ).encode()


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature checked out."""

    public_key: ec.EllipticCurvePublicKey
    point: bytes
    """The key as an uncompressed point (65 bytes)."""
    nonce: str


def verify_request(
    method: str, path: str, headers: Mapping[str, str], body: bytes, now: float, skew: float
) -> SignedRequest:
    """Check a token request's signature and freshness (not its nonce: see `remember_nonce`).

    Raises:
        NotAuthenticated: a header is missing or malformed, the time is off, or the
            signature does not verify.
    """
    missing = [h for h in (PUBLIC_KEY, TIMESTAMP, NONCE, SIGNATURE) if not headers.get(h)]
    if missing:
        raise NotAuthenticated(
            f"this request must be signed by the token: missing {', '.join(missing)}"
        )
    try:
        point = from_b64url(headers[PUBLIC_KEY])
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        signature = from_b64url(headers[SIGNATURE])
        timestamp = int(headers[TIMESTAMP])
    except ValueError:
        raise NotAuthenticated(
            "the token key, timestamp or signature header is malformed"
        ) from None
    if len(point) != 65:
        raise NotAuthenticated("the token key must be an uncompressed P-256 point")
    nonce = headers[NONCE]
    if not _NONCE_RE.match(nonce):
        raise NotAuthenticated("the nonce must be 16 to 64 base64url characters")
    if abs(timestamp - now) > skew:
        raise NotAuthenticated(
            "the token's clock is too far from the server's: set it from /api/v1/time"
        )
    try:
        public_key.verify(
            signature,
            signing_input(method, path, headers[TIMESTAMP], nonce, body),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        raise NotAuthenticated("the request signature does not verify") from None
    return SignedRequest(public_key, point, nonce)


def remember_nonce(connection: Connection, nonce: str, now: float, keep: float) -> None:
    """Record `nonce` in the caller's transaction; a second use is refused.

    Raises:
        NotAuthenticated: the nonce was seen already (a replayed request).
    """
    connection.execute(delete(RequestNonce).where(col(RequestNonce.seen_at) < now - keep))
    try:
        with connection.begin_nested():
            connection.execute(insert(RequestNonce).values(nonce=nonce, seen_at=now))
    except IntegrityError:
        raise NotAuthenticated(
            "this request was sent before: a replayed request is refused"
        ) from None
