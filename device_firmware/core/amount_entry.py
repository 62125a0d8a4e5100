"""An amount of money on a numeric keypad: digits, one decimal point, at most 2 decimals.

The amount is kept as typed, in one plain form whatever the language (``"1250.5"``: digits
and at most one ``.``), and turned into whole cents only when it is signed, so nothing is
ever rounded. Keys: 0-9 type a digit, ``D`` the decimal point, ``*`` deletes the last
character; the caller handles ``#`` (OK) and ``C`` (cancel).

A key that would break a rule of docs/protocol.md §6 is refused with the reason, and the
amount stays as it was: a third decimal, an 11th digit before the point (the most is
9,999,999,999.99). An amount of 0 is refused when it is sent (`check`).
"""

from __future__ import annotations

from device_firmware.core.catalog import Language, Msg
from device_firmware.core.keys import DECIMAL_POINT, DELETE, Key
from device_firmware.core.transfers import MAX_CENTS

DECIMALS = 2
MAX_WHOLE_DIGITS = len(str(MAX_CENTS // 100))
POINT = "."

# (thousands separator, decimal mark): "1.250,00" in Spanish, "1,250.00" in English.
_MARKS = {Language.ES: (".", ","), Language.EN: (",", ".")}


def type_key(typed: str, key: Key) -> tuple[str, Msg | None]:
    """The amount `typed` after `key`, and the reason when the key was refused.

    Returns:
        (the amount afterwards, None) or (`typed` unchanged, the message saying why).
    """
    if key is DELETE:
        return typed[:-1], None
    whole, point, decimals = typed.partition(POINT)
    if key is DECIMAL_POINT:
        return (typed if point else (whole or "0") + POINT), None
    if key.digit is None:
        return typed, None
    if point:
        if len(decimals) >= DECIMALS:
            return typed, Msg.ERR_AMOUNT_DECIMALS
        return typed + key.digit, None
    whole = "" if whole == "0" else whole  # no leading zero: "05" is "5"
    if len(whole) >= MAX_WHOLE_DIGITS:
        return typed, Msg.ERR_AMOUNT_TOO_LARGE
    return whole + key.digit, None


def cents(typed: str) -> int:
    """The amount `typed` in whole cents (0 for nothing typed)."""
    whole, _, decimals = typed.partition(POINT)
    return int(whole or "0") * 100 + int(decimals.ljust(DECIMALS, "0"))


def check(typed: str) -> Msg | None:
    """Why `typed` cannot be signed (it is 0), or None."""
    return Msg.ERR_AMOUNT_ZERO if cents(typed) == 0 else None


def shown(typed: str, language: Language) -> str:
    """The amount as typed, in the language's marks: ``1.250,5`` / ``1,250.5``."""
    thousands, mark = _MARKS[language]
    whole, point, decimals = typed.partition(POINT)
    text = _grouped(whole, thousands)
    return text + mark + decimals if point else text


def formatted(amount_cents: int, language: Language) -> str:
    """An amount in cents with both decimals: ``1.250,00`` / ``1,250.00``."""
    thousands, mark = _MARKS[language]
    whole, fraction = divmod(amount_cents, 100)
    return f"{_grouped(str(whole), thousands)}{mark}{fraction:02d}"


def _grouped(whole: str, thousands: str) -> str:
    head = len(whole) % 3 or 3
    groups = [whole[:head]] + [whole[i : i + 3] for i in range(head, len(whole), 3)]
    return thousands.join(g for g in groups if g)
