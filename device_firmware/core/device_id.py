"""Device ID: the digits that name a token, derived from its public key.

Algorithm, version 1 (the server computes the same to match what the customer types):

1. ``spki`` = the DER SubjectPublicKeyInfo of the token's EC P-256 public key, uncompressed
   point (``public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)`` in pyca/cryptography;
   91 bytes).
2. ``fingerprint`` = SHA-256(``spki``).
3. ``n`` = the first 6 bytes (48 bits) of ``fingerprint`` read as an unsigned big-endian integer.
4. ``body`` = ``n`` in decimal, left-padded with ``0`` to 15 digits (2**48 - 1 has 15 digits).
5. ``check`` = the Verhoeff check digit of ``body``: with the tables ``_D`` (multiplication in
   the dihedral group D5), ``_P`` (position permutation) and ``_INV`` (inverse) below, start
   with ``c = 0``; for ``i, digit`` in ``enumerate(reversed(body))``:
   ``c = _D[c][_P[(i + 1) % 8][digit]]``; then ``check = _INV[c]``.
6. device ID = ``body + check``: 16 digits, shown as four groups of four,
   ``"0123 4567 8901 2345"``.

Validation strips spaces and hyphens, requires exactly 16 digits, and runs the same loop over
all 16 digits with ``_P[i % 8]``; the ID is valid when ``c`` ends at 0. Verhoeff detects every
single wrong digit and every swap of two adjacent digits (Luhn misses 09↔90).

Test vector: the key whose private scalar is 1 (public point = the P-256 generator) has
fingerprint ``5cd252fb0ce8…``, so ``n`` = 102058405072104 and the device ID is
``1020 5840 5072 1040``; the Verhoeff check digit of ``236`` is 3.

The device ID is a name, not a proof: 48 bits make a collision likely after about 2**24
(16 million) tokens, so the server stores the full public key, checks that the key a token
sends hashes to the ID the portal was given, and refuses to bind an ID already bound to a
different key.
"""

from __future__ import annotations

import hashlib
from typing import NewType

from device_firmware.core.errors import InvalidRecord

DeviceId = NewType("DeviceId", str)
"""Sixteen decimal digits, the last a Verhoeff check digit (see the module docstring)."""

FINGERPRINT_BYTES = 6
BODY_DIGITS = 15
LENGTH = BODY_DIGITS + 1
GROUP = 4

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _verhoeff(digits: str, shift: int) -> int:
    c = 0
    for i, digit in enumerate(reversed(digits)):
        c = _D[c][_P[(i + shift) % 8][int(digit)]]
    return c


def check_digit(body: str) -> str:
    """The Verhoeff check digit to append to the decimal string `body`.

    Raises:
        InvalidRecord: `body` is empty or not all ASCII digits.
    """
    if not body or not (body.isascii() and body.isdigit()):
        raise InvalidRecord("a Verhoeff check digit is computed over decimal digits")
    return str(_INV[_verhoeff(body, 1)])


def make(public_key_der: bytes) -> DeviceId:
    """The device ID of the token whose DER SubjectPublicKeyInfo is `public_key_der`."""
    fingerprint = hashlib.sha256(public_key_der).digest()
    body = str(int.from_bytes(fingerprint[:FINGERPRINT_BYTES], "big")).zfill(BODY_DIGITS)
    return DeviceId(body + check_digit(body))


def _normalise(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def validate(text: str) -> bool:
    """True if `text` (spaces and hyphens ignored) is a well-formed device ID."""
    digits = _normalise(text)
    if len(digits) != LENGTH or not (digits.isascii() and digits.isdigit()):
        return False
    return _verhoeff(digits, 0) == 0


def parse(text: str) -> DeviceId:
    """The device ID typed as `text` (spaces and hyphens ignored).

    Raises:
        InvalidRecord: wrong length, a non-digit, or a check digit that does not match.
    """
    if not validate(text):
        raise InvalidRecord(
            f"a device ID is {LENGTH} digits with a valid check digit; {text!r} is not"
        )
    return DeviceId(_normalise(text))


def format(device_id: DeviceId) -> str:
    """`device_id` in groups of four digits separated by spaces."""
    return " ".join(device_id[i : i + GROUP] for i in range(0, len(device_id), GROUP))
