"""Screen models: what to show, in words and numbers, never pixels.

The core renders one of these for every state; a `Display` adapter (OLED, terminal, test)
decides fonts, wrapping and layout. Models are frozen and compared by value, so the core
sends a screen only when something on it changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Tone(enum.StrEnum):
    """What kind of message a `MessageScreen` carries (a display may mark errors)."""

    INFO = "info"
    SUCCESS = "success"
    ERROR = "error"
    BUSY = "busy"


@dataclass(frozen=True)
class MenuScreen:
    """A list to choose from.

    Attributes:
        title: what the list is.
        items: the entries, numbered 1.. on screen (digit N chooses item N).
        cursor: index of the highlighted item.
        note: a line above the list (device ID, an empty-list note), or "".
        hint: which keys do what.
    """

    title: str
    items: tuple[str, ...]
    cursor: int
    note: str = ""
    hint: str = ""


@dataclass(frozen=True)
class MessageScreen:
    """Sentences to read: errors, confirmations, the device ID, "please wait".

    Attributes:
        title: the headline.
        body: paragraphs, each to be wrapped by the display.
        tone: info, success, error or busy.
        hint: which keys do what ("" while busy: keys are ignored).
    """

    title: str
    body: tuple[str, ...]
    tone: Tone = Tone.INFO
    hint: str = ""


@dataclass(frozen=True)
class TextEntryScreen:
    """A line of text being typed with multi-tap.

    Attributes:
        title: what to type (username, password).
        text: the text as shown; a password shows `•` except its pending character.
        cursor: where the cursor stands in `text` (0 to len(text)); drawn before that index.
        mode: "abc", "ABC" or "123".
        pending: the character before the cursor is still cycling.
        hint: which keys do what.
    """

    title: str
    text: str
    cursor: int
    mode: str
    pending: bool
    hint: str = ""


@dataclass(frozen=True)
class DigitEntryScreen:
    """Digits being typed: a PIN (masked, fixed length) or an e-mailed / activation code.

    Attributes:
        title: what to type.
        shown: the digits so far, or one `•` per PIN digit.
        length: the number of places to draw (PIN), or None for a free-length code.
        note: a line under the title: a warning, an error, where the code was sent.
        hint: which keys do what.
    """

    title: str
    shown: str
    length: int | None = None
    note: str = ""
    hint: str = ""


@dataclass(frozen=True)
class CodeScreen:
    """A user's current one-time code.

    Attributes:
        title: the headline.
        user: the user's name.
        code: the code in two groups ("123 456").
        seconds_left: seconds until the next code (period down to 1).
        period: the step in seconds, to draw a countdown bar.
        countdown: `seconds_left` in words, for displays that only print text.
        hint: which keys do what.
    """

    title: str
    user: str
    code: str
    seconds_left: int
    period: int
    countdown: str
    hint: str = ""


Screen = MenuScreen | MessageScreen | TextEntryScreen | DigitEntryScreen | CodeScreen
