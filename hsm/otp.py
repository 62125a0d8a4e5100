"""The parts of HOTP/TOTP that need no secret: algorithms and dynamic truncation."""

from __future__ import annotations

import enum
import hashlib

from hsm.errors import InvalidSeedRequest

MIN_DIGITS = 6
MAX_DIGITS = 8


class Algorithm(enum.StrEnum):
    """The HMAC hash of an OTP credential (RFC 6238 §1.2)."""

    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"

    @property
    def seed_length(self) -> int:
        """Bytes of a generated seed: the hash output length (RFC 4226 §4 R6, RFC 6238)."""
        return {"SHA1": 20, "SHA256": 32, "SHA512": 64}[self.value]

    @property
    def block_size(self) -> int:
        """Bytes of the hash's input block: HMAC hashes longer keys first (RFC 2104 §2)."""
        return {"SHA1": 64, "SHA256": 64, "SHA512": 128}[self.value]

    def hash(self, data: bytes) -> bytes:
        """The hash itself (used to shorten over-long HMAC keys exactly as HMAC does)."""
        return hashlib.new(self.value.lower(), data).digest()

    @classmethod
    def parse(cls, value: str) -> Algorithm:
        """Accept `SHA1`, `sha-256`, `SHA512`, ...; raise InvalidSeedRequest otherwise."""
        normalised = value.upper().replace("-", "")
        try:
            return cls(normalised)
        except ValueError:
            raise InvalidSeedRequest(
                f"unknown OTP algorithm {value!r}: use SHA1, SHA256 or SHA512"
            ) from None


def check_digits(digits: int) -> int:
    """Return `digits` if an OTP of that length is allowed (6 to 8), else raise."""
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise InvalidSeedRequest(f"an OTP has {MIN_DIGITS} to {MAX_DIGITS} digits, not {digits}")
    return digits


def counter_bytes(counter: int) -> bytes:
    """The 8-byte big-endian moving factor of RFC 4226 §5.2."""
    if not 0 <= counter < 1 << 64:
        raise InvalidSeedRequest("an OTP counter must be between 0 and 2**64 - 1")
    return counter.to_bytes(8, "big")


def dynamic_binary_code(mac: bytes) -> int:
    """The 31-bit number dynamic truncation takes from an HMAC value (RFC 4226 §5.3)."""
    offset = mac[-1] & 0x0F
    return int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF


def truncate(mac: bytes, digits: int) -> str:
    """Dynamic truncation of an HMAC value to a decimal code (RFC 4226 §5.3)."""
    return str(dynamic_binary_code(mac) % 10**digits).zfill(digits)


def totp_counter(unix_time: float, period: int, t0: int = 0) -> int:
    """The TOTP time step T = floor((time - T0) / X) of RFC 6238 §4.2."""
    if period <= 0:
        raise InvalidSeedRequest("a TOTP period must be a positive number of seconds")
    return int((unix_time - t0) // period)
