"""The question of a transfer: its amount in cents and its payee reference, in 20 digits
(docs/protocol.md §6), as the server makes it from the transfer its verify API is sent.
The token makes it from what its keypad let the customer type (whole cents and 8 digits:
`device_firmware/core/transfers.py`); the two are separate programs, and the tests hold
both to the protocol's worked examples.

    question = amount in cents, 12 digits with leading zeros
             || payee reference, 8 digits

The suite is `OCRA-1:HOTP-SHA256-8:QA20-T1M`: the question is alphanumeric (QA), so the
20 digits enter the data input as 20 ASCII bytes. A numeric question (QN) would not do:
RFC 6287 turns it into the hexadecimal form of its value and pads that on the right, which
drops the leading zeros, so a number and sixteen times it give the same data input, fixed
width or not (100.00 to ...00001234 and 1,600.00 to ...00019744 would share a response).
The currency is not in the question: the server signs in one currency only (`EUR` unless
configured otherwise) and refuses any other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SUITE = "OCRA-1:HOTP-SHA256-8:QA20-T1M"
"""The OCRA suite of every credential that signs transfers."""
TIME_STEP = 60
"""Seconds of the suite's time step (T1M): T = floor(Unix time / 60)."""
AMOUNT_DIGITS = 12
PAYEE_DIGITS = 8
QUESTION_LENGTH = AMOUNT_DIGITS + PAYEE_DIGITS
MAX_AMOUNT = Decimal("9999999999.99")
"""The largest amount 12 digits of cents can carry."""
DEFAULT_CURRENCY = "EUR"
"""The currency transfers are signed in unless the bank configures another (with cents)."""

_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


class TransactionRefused(ValueError):
    """A transfer that cannot be signed as it is: the message says what is wrong."""


def amount_in_cents(amount: Decimal | str) -> int:
    """The amount as a whole number of cents, between 1 and 999,999,999,999.

    Text is plain decimal notation with a point (`1250`, `1250.5`, `1250.00`): no sign,
    exponent or thousands separator, which readers disagree on. An amount with a fraction
    of a cent is refused, never rounded.

    Raises:
        TransactionRefused: the amount is not a plain decimal number, is not positive, has
            a fraction of a cent, or is over `MAX_AMOUNT`.
    """
    if isinstance(amount, str):
        if _PLAIN_DECIMAL.fullmatch(amount) is None:
            raise TransactionRefused(
                f"an amount is written with digits and at most one decimal point: {amount!r}"
            )
        value = Decimal(amount)
    else:
        value = amount
    if not value.is_finite():
        raise TransactionRefused(f"an amount is a finite number: {amount}")
    if not 0 < value <= MAX_AMOUNT:  # exact comparisons
        raise TransactionRefused(f"an amount is more than 0 and at most {MAX_AMOUNT}: {amount}")
    # in whole numbers, not in a decimal context that rounds after 28 digits: 1250.00…001
    # must not become 125000 cents
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - a finite number
    kept = list(digits)
    while exponent < -2 and kept and kept[-1] == 0:  # 1250.000 is 1250.00
        kept.pop()
        exponent += 1
    if exponent < -2:
        raise TransactionRefused(f"an amount has at most 2 decimals: {amount}")
    coefficient = int("".join(map(str, kept)) or "0")  # at most 12 digits left here
    return coefficient * int(10 ** (exponent + 2))  # exponent + 2 >= 0 here


def payee_reference(account: str) -> str:
    """The payee reference: the last 8 characters of the destination account (an IBAN or
    an account number; spaces and hyphens ignored), which must be digits; or the 8-digit
    challenge number the bank shows when the account does not end in 8 digits.

    Raises:
        TransactionRefused: fewer than 8 characters, or one of the last 8 is not a digit.
    """
    compact = re.sub(r"[\s-]", "", account)
    last = compact[-PAYEE_DIGITS:]
    if len(last) != PAYEE_DIGITS or not (last.isascii() and last.isdigit()):
        raise TransactionRefused(
            f"a payee reference is the last {PAYEE_DIGITS} digits of the account, or a "
            f"challenge number of {PAYEE_DIGITS} digits: {account!r} does not end in them"
        )
    return last


def question(amount: Decimal | str, payee: str) -> str:
    """The OCRA question of a transfer of `amount` to `payee` (an account or a challenge
    number, `payee_reference`): 20 digits.

    >>> question("1250.00", "ES91 2100 0418 4502 0005 4321")
    '00000012500000054321'
    """
    return f"{amount_in_cents(amount):0{AMOUNT_DIGITS}d}{payee_reference(payee)}"


@dataclass(frozen=True)
class Transfer:
    """A transfer as the token signs it: whole cents, the currency and the payee reference."""

    cents: int
    currency: str
    payee_reference: str

    @property
    def question(self) -> str:
        """The OCRA question: 12 digits of cents, then the 8 of the payee reference."""
        return f"{self.cents:0{AMOUNT_DIGITS}d}{self.payee_reference}"

    @property
    def amount(self) -> str:
        """The amount as the audit trail shows it: `1250.00`."""
        return f"{self.cents // 100}.{self.cents % 100:02d}"

    def audited(self) -> dict[str, str]:
        """What the audit event records as approved."""
        return {
            "amount": self.amount,
            "currency": self.currency,
            "payee_reference": self.payee_reference,
        }


def transfer_of(transaction: Mapping[str, Any], currency: str = DEFAULT_CURRENCY) -> Transfer:
    """The transfer in a verify request's `transaction`: `amount` (a string in plain
    decimal notation: a JSON number may have been a binary float on its way), `currency`
    (the one transfers are signed in) and `payee` (the destination account or the bank's
    challenge number, `payee_reference`).

    Raises:
        TransactionRefused: a field is missing or not a string, the currency is another,
            or the amount or the payee cannot be signed (`amount_in_cents`,
            `payee_reference`).
    """
    values = {}
    for name in ("amount", "currency", "payee"):
        value = transaction.get(name)
        if not isinstance(value, str):
            if value is None:
                raise TransactionRefused(f"a transfer to sign needs transaction.{name}")
            number = isinstance(value, int | float) and not isinstance(value, bool)
            why = (
                ' (an amount as "1250.00": a JSON number may have been rounded as a binary float)'
                if number
                else ""
            )
            raise TransactionRefused(f"transaction.{name} is a string{why}")
        values[name] = value
    if values["currency"] != currency:
        raise TransactionRefused(
            f"transfers are signed in {currency}; this one is in {values['currency']!r}"
        )
    return Transfer(amount_in_cents(values["amount"]), currency, payee_reference(values["payee"]))


def needs_signature(
    transaction: Mapping[str, Any], threshold_cents: int | None, currency: str = DEFAULT_CURRENCY
) -> bool:
    """Whether a relying party whose transfers above `threshold_cents` must be signed (None:
    none must) may approve this one with a plain code. A transfer whose amount cannot be
    read in the signing currency needs a signature: it cannot be shown to be below."""
    if threshold_cents is None:
        return False
    try:
        return transfer_of(transaction, currency).cents > threshold_cents
    except TransactionRefused:
        return True
