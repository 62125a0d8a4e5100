"""Screen models drawn as text: a boxed frame per screen, for terminals and logs.

`frame(screen)` returns the lines; `TextDisplay` is the `Display` port writing each new frame
to a text stream. A cursor in text entry shows as ``|``, a PIN as ``• • _ _``, the code's
countdown as a bar.
"""

from __future__ import annotations

import textwrap
from typing import TextIO

from device_firmware.core.screens import (
    CodeScreen,
    DigitEntryScreen,
    MenuScreen,
    MessageScreen,
    Screen,
    TextEntryScreen,
    Tone,
)

WIDTH = 34
BAR = 20
_MARKS = {Tone.INFO: "", Tone.SUCCESS: "[OK] ", Tone.ERROR: "[!] ", Tone.BUSY: "... "}


def frame(screen: Screen, width: int = WIDTH) -> list[str]:
    """The text lines of `screen` inside a box `width` characters wide."""
    inner = width - 4
    title, body, hint = _parts(screen, inner)
    rule = "+" + "-" * (width - 2) + "+"
    lines = [rule]
    lines += [f"| {line:<{inner}} |" for line in _wrap(title, inner)]
    lines.append("|" + "-" * (width - 2) + "|")
    lines += [f"| {line:<{inner}} |" for line in body]
    if hint:
        lines.append("|" + "-" * (width - 2) + "|")
        lines += [f"| {line:<{inner}} |" for line in _wrap(hint, inner)]
    lines.append(rule)
    return lines


def _parts(screen: Screen, inner: int) -> tuple[str, list[str], str]:
    match screen:
        case MenuScreen(title=title, items=items, cursor=cursor, note=note, hint=hint):
            body = _wrap(note, inner) if note else []
            for index, item in enumerate(items):
                marker = ">" if index == cursor else " "
                body += _wrap(f"{marker} {index + 1} {item}", inner, indent="    ")
            return title, body, hint
        case MessageScreen(title=title, body=paragraphs, tone=tone, hint=hint):
            body = [line for paragraph in paragraphs for line in _wrap(paragraph, inner)]
            return _MARKS[tone] + title, body, hint
        case TextEntryScreen(title=title, text=text, cursor=cursor, mode=mode, hint=hint):
            shown = text[:cursor] + "|" + text[cursor:]
            return f"{title} [{mode}]", _wrap(shown, inner), hint
        case DigitEntryScreen(title=title, shown=shown, length=length, note=note, hint=hint):
            if length is not None:
                slots = " ".join(list(shown) + ["_"] * (length - len(shown)))
            else:
                slots = shown + "_"
            return title, [*_wrap(note, inner), "", slots.center(inner)], hint
        case CodeScreen(
            title=title, user=user, code=code, seconds_left=left, period=period, countdown=words
        ):
            filled = round(BAR * left / period)
            bar = "[" + "#" * filled + "." * (BAR - filled) + "]"
            body = [user, "", code.center(inner), "", f"{bar} {left:>2} s", words]
            return title, [line for item in body for line in _wrap(item, inner) or [""]], ""
    raise TypeError(f"not a screen model: {screen!r}")


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent=indent) if text else []


class TextDisplay:
    """The `Display` port on a text stream: each new screen is written as a frame.

    Args:
        stream: where frames go (a terminal, or a StringIO in tests).
        clear: clear the terminal before each frame (ANSI), for interactive use.
    """

    def __init__(self, stream: TextIO, *, clear: bool = False) -> None:
        self.stream = stream
        self.clear = clear

    def show(self, screen: Screen) -> None:
        """Write `screen` as a text frame."""
        prefix = "\x1b[2J\x1b[H" if self.clear else ""
        self.stream.write(prefix + "\n".join(frame(screen)) + "\n")
        self.stream.flush()
