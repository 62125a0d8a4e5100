"""Device IDs and activation codes: digits with a Verhoeff check digit.

A device ID is computed from the token's public key exactly as docs/protocol.md says (the
token has its own implementation in device_firmware/core/device_id.py; the server does not
import the token's code, and both are held to the same test vector):
SHA-256 of the key's DER SubjectPublicKeyInfo, its first 48 bits as a 15-digit decimal
number, then a Verhoeff check digit, which catches every single wrong digit and every swap
of two neighbouring digits.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# Verhoeff's tables: multiplication in the dihedral group D5, the position permutation, and
# the inverse (Verhoeff 1969).
_MULTIPLY = (
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
)
_PERMUTE = (
    "0123456789",
    "1576283094",
    "5803796142",
    "8916043527",
    "9453126870",
    "4286573901",
    "2793806415",
    "7046913258",
)
_INVERSE = "0432156789"
_SEPARATORS = re.compile(r"[\s\-.]")
_DIGITS = re.compile(r"[0-9]{2,}")  # ASCII only: str.isdigit() also takes "²"


def _checksum(digits: str, offset: int) -> int:
    c = 0
    for i, digit in enumerate(reversed(digits)):
        c = int(_MULTIPLY[c][int(_PERMUTE[(i + offset) % 8][int(digit)])])
    return c


def check_digit(body: str) -> str:
    """The Verhoeff check digit to append to `body`."""
    return _INVERSE[_checksum(body, 1)]


def has_valid_check_digit(number: str) -> bool:
    """True when the last digit of `number` is the Verhoeff check digit of the rest."""
    return _DIGITS.fullmatch(number) is not None and _checksum(number, 0) == 0


def normalise(typed: str) -> str:
    """Drop the spaces, hyphens and dots a person types between groups."""
    return _SEPARATORS.sub("", typed)


def device_id_for(public_key: ec.EllipticCurvePublicKey) -> str:
    """The 16-digit device ID of a token's P-256 public key."""
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    body = f"{int.from_bytes(hashlib.sha256(spki).digest()[:6], 'big'):015d}"
    return body + check_digit(body)


def is_device_id(typed: str) -> bool:
    """16 digits (after removing separators) whose check digit is right."""
    number = normalise(typed)
    return len(number) == 16 and has_valid_check_digit(number)


def group(number: str, size: int = 4) -> str:
    """`1234567812345678` -> `1234 5678 1234 5678`."""
    return " ".join(number[i : i + size] for i in range(0, len(number), size))


def new_activation_code() -> str:
    """Nine random digits and a Verhoeff check digit (typos are caught before counting)."""
    body = f"{secrets.randbelow(10**9):09d}"
    return body + check_digit(body)


def new_email_code(digits: int) -> str:
    """A random code of `digits` digits (6 to 8) for the registration e-mail."""
    if not 6 <= digits <= 8:
        raise ValueError("an e-mailed code has 6 to 8 digits")
    return f"{secrets.randbelow(10**digits):0{digits}d}"
