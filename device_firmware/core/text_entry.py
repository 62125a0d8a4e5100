"""Text on a numeric keypad: multi-tap, as on old phones, with a cursor and corrections.

Pressing a digit key types the first character on it; pressing the same key again before the
multi-tap timeout replaces that character with the next one on the key (``2``: a → b → c → 2
→ a ...). Another key, a cursor move, OK, or the timeout passing fixes the character. The
pending character is the one just before the cursor.

Keys: 0-9 type; ``*`` deletes the character before the cursor; ``A``/``B`` move the cursor
left/right; ``D`` cycles the mode abc → ABC → 123 (in 123 a key types its digit at once).
The caller handles ``#`` (OK) and ``C`` (back).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from device_firmware.core.keys import DELETE, DOWN, MODE, UP, Key

MAX_TEXT = 64
DEFAULT_TIMEOUT = 1.0

# ITU E.161 letters, plus the symbols bank usernames and passwords use most.
LETTERS: dict[Key, str] = {
    Key.DIGIT_1: ".@-_,!?'1",
    Key.DIGIT_2: "abc2",
    Key.DIGIT_3: "def3",
    Key.DIGIT_4: "ghi4",
    Key.DIGIT_5: "jkl5",
    Key.DIGIT_6: "mnoñ6",
    Key.DIGIT_7: "pqrs7",
    Key.DIGIT_8: "tuv8",
    Key.DIGIT_9: "wxyz9",
    Key.DIGIT_0: " 0+/=#$%&*()",
}


class TextMode(enum.StrEnum):
    """What a digit key types: lower-case letters, upper-case letters, or its digit."""

    LOWER = "abc"
    UPPER = "ABC"
    DIGITS = "123"

    def next(self) -> TextMode:
        """The mode the D key switches to."""
        order = list(TextMode)
        return order[(order.index(self) + 1) % len(order)]


@dataclass(frozen=True)
class TextEntry:
    """A line of text being typed: its characters, cursor, mode and multi-tap state.

    Attributes:
        text: the characters typed so far, the pending one included.
        cursor: insertion point, 0 to len(text).
        mode: what digit keys type.
        pending_key: the key whose characters are cycling (the character before the
            cursor), or None when every character is fixed.
        pending_index: which character of that key is showing.
        pending_since: when that key was last pressed (the clock's Unix time).
        timeout: seconds after which a pending character is fixed.
        max_length: characters accepted at most.
    """

    text: str = ""
    cursor: int = 0
    mode: TextMode = TextMode.LOWER
    pending_key: Key | None = None
    pending_index: int = 0
    pending_since: float = 0.0
    timeout: float = DEFAULT_TIMEOUT
    max_length: int = MAX_TEXT

    @classmethod
    def of(cls, text: str, *, timeout: float = DEFAULT_TIMEOUT) -> TextEntry:
        """An entry already holding `text`, cursor at its end (to correct earlier input)."""
        return cls(text=text, cursor=len(text), timeout=timeout)

    @property
    def pending(self) -> bool:
        """A character is still cycling under repeated presses of its key."""
        return self.pending_key is not None

    def fixed(self) -> TextEntry:
        """The same text with the pending character (if any) fixed."""
        return replace(self, pending_key=None, pending_index=0)

    def settle(self, now: float) -> TextEntry:
        """Fix the pending character if the multi-tap timeout has passed at `now`."""
        if self.pending_key is not None and now - self.pending_since >= self.timeout:
            return self.fixed()
        return self

    def press(self, key: Key, now: float) -> TextEntry:
        """The entry after `key` is pressed at `now` (keys other than 0-9, *, A, B, D: no-op)."""
        if key.digit is not None:
            return self._type(key, key.digit, now)
        entry = self.settle(now)
        if key is DELETE:
            return entry._delete()
        if key is UP:
            return replace(entry.fixed(), cursor=max(0, entry.cursor - 1))
        if key is DOWN:
            return replace(entry.fixed(), cursor=min(len(entry.text), entry.cursor + 1))
        if key is MODE:
            return replace(entry.fixed(), mode=entry.mode.next())
        return entry

    def _type(self, key: Key, digit: str, now: float) -> TextEntry:
        entry = self.settle(now)
        if entry.pending_key is key and entry.mode is not TextMode.DIGITS:
            index = (entry.pending_index + 1) % len(LETTERS[key])
            before = entry.text[: entry.cursor - 1]
            after = entry.text[entry.cursor :]
            return replace(
                entry,
                text=before + entry._char(key, index) + after,
                pending_index=index,
                pending_since=now,
            )
        entry = entry.fixed()
        if len(entry.text) >= entry.max_length:
            return entry
        if entry.mode is TextMode.DIGITS:
            return entry._insert(digit)
        inserted = entry._insert(entry._char(key, 0))
        return replace(inserted, pending_key=key, pending_index=0, pending_since=now)

    def _char(self, key: Key, index: int) -> str:
        char = LETTERS[key][index]
        return char.upper() if self.mode is TextMode.UPPER else char

    def _insert(self, char: str) -> TextEntry:
        text = self.text[: self.cursor] + char + self.text[self.cursor :]
        return replace(self, text=text, cursor=self.cursor + 1)

    def _delete(self) -> TextEntry:
        if self.cursor == 0:
            return self.fixed()
        text = self.text[: self.cursor - 1] + self.text[self.cursor :]
        return replace(self.fixed(), text=text, cursor=self.cursor - 1)


def edit_digits(digits: str, key: Key, max_length: int) -> str:
    """A digit-only field (PIN, codes) after `key`: 0-9 append, * deletes the last digit."""
    if key is DELETE:
        return digits[:-1]
    if key.digit is not None and len(digits) < max_length:
        return digits + key.digit
    return digits
