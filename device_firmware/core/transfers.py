"""The response the token shows for a transfer (docs/protocol.md §6), time always explicit.

The question is `transaction_signing`'s, the rule the server computes too; the response is
OCRA (RFC 6287) computed by python-oath, as the token's codes are computed by pyotp: an
implementation of its own, where the server computes in its HSM, so each end checks the
other (the tests hold both to RFC 6287's vectors and the protocol's worked examples).
"""

from __future__ import annotations

from decimal import Decimal

import oath

from transaction_signing import SUITE, TIME_STEP, question

_SUITE = oath.str2ocrasuite(SUITE)


def response_at(seed: bytes, amount: Decimal | str, payee: str, unix_time: float) -> str:
    """The 8-digit response to a transfer of `amount` to `payee` at `unix_time` (the
    bank's time: clock + learned offset), with the credential's OCRA seed.

    Raises:
        TransactionRefused: the amount or the payee cannot be signed.
    """
    step = int(unix_time // TIME_STEP)
    return str(_SUITE(seed, Q=question(amount, payee), T_precomputed=step))
