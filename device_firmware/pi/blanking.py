"""The screen goes dark when nobody uses the token, and any key wakes it.

`BlankingKeypad` sits between the keypad and the core: after `blank_after` seconds without a
key it blanks the display (an OLED's pixels wear, and a code left lit for hours is a code
anyone nearby can read); the next key wakes the display and is *not* passed on, so a customer
who presses a key to see the screen does not also type a digit or leave the screen they meant
to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from device_firmware.core.keys import Key
from device_firmware.core.ports import Keypad


class Blankable(Protocol):
    """A display that can be switched off and on (`display.OledDisplay`)."""

    @property
    def blanked(self) -> bool:
        """The display is switched off."""

    def blank(self) -> None:
        """Switch the display off."""

    def wake(self) -> None:
        """Switch the display on with the latest screen."""


class BlankingKeypad:
    """The `Keypad` port that blanks `display` when idle and swallows the waking key.

    Args:
        keypad: where keys come from.
        display: what to blank.
        blank_after: seconds without a key before blanking.
        monotonic: the clock idle time is measured with.
    """

    def __init__(
        self,
        keypad: Keypad,
        display: Blankable,
        *,
        blank_after: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keypad = keypad
        self._display = display
        self._blank_after = blank_after
        self._monotonic = monotonic
        self._last_key = monotonic()

    def read_key(self, timeout: float) -> Key | None:
        """The next key within `timeout` seconds, or None (also for a key that woke the screen)."""
        key = self._keypad.read_key(timeout)
        now = self._monotonic()
        if key is None:
            if not self._display.blanked and now - self._last_key >= self._blank_after:
                self._display.blank()
            return None
        self._last_key = now
        if self._display.blanked:
            self._display.wake()
            return None
        return key
