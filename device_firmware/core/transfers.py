"""The response the token shows for a transfer (docs/protocol.md §6), time always explicit.

The question is the amount in whole cents (12 digits) and the payee reference (8 digits)
that the customer typed: the keypad lets nothing else through, so the token's side of the
rule is one format. The server makes the same 20 digits from the transfer it is sent
(`server/domain/verification/transfers.py`); the tests hold both to the protocol's worked
examples. The response is OCRA (RFC 6287) computed by python-oath, as the token's codes
are computed by pyotp: an implementation of its own, where the server computes in its HSM.
"""

from __future__ import annotations

import oath

SUITE = "OCRA-1:HOTP-SHA256-8:QA20-T1M"
"""The OCRA suite of every credential that signs transfers (docs/protocol.md §6)."""
TIME_STEP = 60
"""Seconds of the suite's time step (T1M)."""
MAX_CENTS = 999_999_999_999
"""The most 12 digits of cents carry."""
PAYEE_DIGITS = 8

_SUITE = oath.str2ocrasuite(SUITE)


def question(cents: int, payee: str) -> str:
    """The 20-digit question of a transfer of `cents` to the payee reference `payee`.

    Raises:
        ValueError: `cents` is not between 1 and `MAX_CENTS`, or `payee` is not 8 digits.
    """
    if not 0 < cents <= MAX_CENTS:
        raise ValueError(f"an amount is between 0.01 and {MAX_CENTS / 100:.2f}")
    if len(payee) != PAYEE_DIGITS or not (payee.isascii() and payee.isdigit()):
        raise ValueError(f"a payee reference is {PAYEE_DIGITS} digits")
    return f"{cents:012d}{payee}"


def response_at(seed: bytes, cents: int, payee: str, unix_time: float) -> str:
    """The 8-digit response to a transfer of `cents` to `payee` at `unix_time` (the bank's
    time: clock + learned offset), with the credential's OCRA seed.

    Raises:
        ValueError: the amount or the payee cannot be signed (`question`).
    """
    step = int(unix_time // TIME_STEP)
    return str(_SUITE(seed, Q=question(cents, payee), T_precomputed=step))
