"""The token's keypad: a 4x4 matrix of sixteen keys (0-9, *, #, A-D).

What each key does, everywhere in the core:

====  ==========================================================
0-9   a digit; letters by multi-tap in text entry; item N in a menu
\\*    delete (correct the last digit or letter)
#     OK: continue, select, send
A     up in a menu; cursor left in text entry
B     down in a menu; cursor right in text entry
C     back / cancel (on the user list: lock the token)
D     text mode in text entry (abc → ABC → 123); the decimal point in an amount
====  ==========================================================
"""

from __future__ import annotations

import enum


class Key(enum.StrEnum):
    """One key of the keypad; its value is the character printed on it."""

    DIGIT_0 = "0"
    DIGIT_1 = "1"
    DIGIT_2 = "2"
    DIGIT_3 = "3"
    DIGIT_4 = "4"
    DIGIT_5 = "5"
    DIGIT_6 = "6"
    DIGIT_7 = "7"
    DIGIT_8 = "8"
    DIGIT_9 = "9"
    STAR = "*"
    HASH = "#"
    A = "A"
    B = "B"
    C = "C"
    D = "D"

    @property
    def digit(self) -> str | None:
        """The digit this key types, or None for *, # and A-D."""
        return self.value if self.value.isdigit() else None

    @classmethod
    def parse(cls, char: str) -> Key:
        """The key printed with `char` (a-d accepted in lower case).

        Raises:
            ValueError: `char` is not on the keypad.
        """
        try:
            return cls(char.upper())
        except ValueError:
            raise ValueError(f"{char!r} is not a key of the token's keypad") from None


OK = Key.HASH
DELETE = Key.STAR
UP = Key.A
DOWN = Key.B
BACK = Key.C
MODE = Key.D
DECIMAL_POINT = Key.D
