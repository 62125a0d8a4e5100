"""The one-time codes the token shows: TOTP (RFC 6238) through pyotp, time always explicit."""

from __future__ import annotations

import base64
import math

import pyotp

from device_firmware.core.records import Credential


def code_at(credential: Credential, unix_time: float) -> str:
    """The code of `credential` at `unix_time` (the bank's time: clock + learned offset)."""
    totp = pyotp.TOTP(
        base64.b32encode(credential.seed).decode("ascii"),
        digits=credential.digits,
        digest=credential.algorithm.hashlib_name,
        interval=credential.period,
    )
    # `at` with an explicit time; `now()` would read the system clock behind the core's back.
    return totp.at(int(unix_time))


def seconds_left(period: int, unix_time: float) -> int:
    """Whole seconds until the code at `unix_time` is replaced (period down to 1)."""
    return math.ceil(period - unix_time % period)


def grouped(code: str) -> str:
    """The code in two groups for reading aloud: ``123 456`` (8 digits: ``1234 5678``)."""
    half = (len(code) + 1) // 2
    return f"{code[:half]} {code[half:]}"
