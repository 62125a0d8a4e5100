"""The emulator's keypad: the computer's keyboard (its clock is the Pi's `SystemClock`)."""

from __future__ import annotations

import select
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from device_firmware.core.keys import Key

# Keyboard characters that stand for keypad keys besides the keypad's own (0-9 * # A-D).
ALIASES = {"\r": Key.HASH, "\n": Key.HASH, "\x7f": Key.STAR, "\x08": Key.STAR, "\x1b": Key.C}


def key_for(char: str) -> Key | None:
    """The keypad key a typed character stands for, or None."""
    if char in ALIASES:
        return ALIASES[char]
    try:
        return Key.parse(char)
    except ValueError:
        return None


class TerminalKeypad:
    """Keys typed on a terminal in cbreak mode (see `cbreak`); other characters are kept aside.

    Args:
        stream: the terminal's input.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.other: list[str] = []

    def read_key(self, timeout: float) -> Key | None:
        """The next keypad key typed within `timeout` seconds, or None."""
        ready, _, _ = select.select([self.stream], [], [], timeout)
        if not ready:
            return None
        char = self.stream.read(1)
        key = key_for(char)
        if key is None:
            self.other.append(char)
        return key


@contextmanager
def cbreak(stream: TextIO) -> Iterator[None]:
    """Deliver each typed character at once (no line editing), restoring the terminal after."""
    if not stream.isatty():
        yield
        return
    saved = termios.tcgetattr(stream)
    try:
        tty.setcbreak(stream)
        yield
    finally:
        termios.tcsetattr(stream, termios.TCSADRAIN, saved)
