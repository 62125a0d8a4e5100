"""Signed token requests (docs/protocol.md §2): the four X-OTP-* headers.

The signing input is six lines joined by ``\\n`` (no trailing newline), UTF-8::

    otp-token-request-v1
    METHOD
    /path/without/query
    TIMESTAMP            (the X-OTP-Timestamp header: whole Unix seconds, server time)
    NONCE                (the X-OTP-Nonce header: 16 random bytes, base64url)
    hex(SHA-256(body))   (of the exact bytes sent; of b"" without a body)

and its DER ECDSA P-256 / SHA-256 signature goes in X-OTP-Signature (base64url).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets

from device_firmware.link.token_key import TokenKey

TAG = "otp-token-request-v1"
NONCE_BYTES = 16
PUBLIC_KEY = "X-OTP-Public-Key"
TIMESTAMP = "X-OTP-Timestamp"
NONCE = "X-OTP-Nonce"
SIGNATURE = "X-OTP-Signature"
_B64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """Decode base64url, with or without padding (any other character is refused).

    Raises:
        ValueError: not base64url.
    """
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def new_nonce() -> str:
    """A fresh random nonce: 16 bytes, 22 base64url characters."""
    return b64url(secrets.token_bytes(NONCE_BYTES))


def signing_input(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes the token signs for a request."""
    lines = [TAG, method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    return "\n".join(lines).encode("utf-8")


def signed_headers(
    key: TokenKey,
    point: bytes,
    method: str,
    path: str,
    body: bytes,
    unix_time: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers that prove `key` sent this request at `unix_time` (server time).

    Args:
        key: the token key that signs.
        point: its public key as an uncompressed point (sent in X-OTP-Public-Key).
        method: the HTTP method.
        path: the URL path as sent, without the query string.
        body: the exact body bytes sent (b"" for none).
        unix_time: whole seconds on the server's clock (the token's time plus its offset).
        nonce: the nonce to use (a fresh random one if None; tests pass their own).
    """
    timestamp = str(unix_time)
    nonce = nonce or new_nonce()
    signature = key.sign(signing_input(method, path, timestamp, nonce, body))
    return {
        PUBLIC_KEY: b64url(point),
        TIMESTAMP: timestamp,
        NONCE: nonce,
        SIGNATURE: b64url(signature),
    }
