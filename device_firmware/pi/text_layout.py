"""Text on 128x64 pixels: measuring, wrapping, shrinking to fit, and cutting with "…".

Sentences come from the core's catalog in Spanish or English and can be long ("El número ID
de dispositivo no es correcto o bien el código de activación no es correcto. ..."); the
layouts give each a box and `fit` picks the largest size at which it fits there, wrapping on
spaces. If even the smallest size overflows, the last line that fits ends in "…".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import ImageDraw

from device_firmware.pi.fonts import Font

ELLIPSIS = "…"
NO_BREAK = "\u00a0"
ON = 1  # a lit pixel in a 1-bit image
OFF = 0

FontAt = Callable[[int], Font]


def pitch(font: Font) -> int:
    """Pixels from one line's top to the next: ascent plus descent, less the two rows that
    only an accented capital under a descender would need (tight, as small screens must be)."""
    ascent, descent = font.getmetrics()
    return int(ascent + descent - 2)


def width(font: Font, text: str) -> int:
    """The advance of `text` in whole pixels."""
    return round(font.getlength(text))


def wrap(text: str, font: Font, room: int) -> list[str]:
    """`text` in lines no wider than `room` pixels, broken at spaces (long words split)."""
    lines: list[str] = []
    line = ""
    for word in filter(None, text.split(" ")):  # not str.split(): no-break spaces hold
        candidate = f"{line} {word}" if line else word
        if width(font, candidate) <= room:
            line = candidate
            continue
        if line:
            lines.append(line)
        while width(font, word) > room:  # a word wider than the box: split it
            cut = max(1, _longest_prefix(word, font, room))
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def keep_together(hint: str) -> str:
    """A key hint ("* borrar  A/B mover") with each key and its action unbreakable."""
    units = (unit.strip().replace(" ", NO_BREAK) for unit in hint.split("  ") if unit)
    return (NO_BREAK + " ").join(units)  # the wider gap between units survives wrapping


def ellipsize(text: str, font: Font, room: int) -> str:
    """`text`, or its longest start that fits `room` pixels followed by "…"."""
    if width(font, text) <= room:
        return text
    cut = _longest_prefix(text, font, room - width(font, ELLIPSIS))
    return text[:cut].rstrip() + ELLIPSIS


@dataclass(frozen=True)
class Block:
    """Wrapped text ready to draw.

    Attributes:
        lines: the lines, already cut to the box.
        font: the face and size they fit at.
        pitch: pixels from one line's top to the next.
        cut: the text did not fit even at the smallest size and was cut short with "…".
    """

    lines: tuple[str, ...]
    font: Font
    pitch: int
    cut: bool = False

    @property
    def height(self) -> int:
        """Pixels the block takes."""
        return self.pitch * len(self.lines)


def fit(
    paragraphs: Sequence[str],
    face: FontAt,
    sizes: Sequence[int],
    room: int,
    height: int,
    *,
    max_lines: int | None = None,
) -> Block:
    """`paragraphs` at the largest of `sizes` whose wrapped lines fit `room` x `height`.

    If none fits, the smallest size is used and the text is cut after the last line that
    fits, that line ending in "…".
    """
    for size in sizes:
        block = _block(paragraphs, face(size), room)
        limit = max_lines or len(block.lines)
        if block.height <= height and len(block.lines) <= limit:
            return block
    block = _block(paragraphs, face(sizes[-1]), room)
    keep = max(1, min(height // block.pitch, max_lines or height))
    if len(block.lines) <= keep:
        return block
    lines = list(block.lines[:keep])
    lines[-1] = ellipsize(lines[-1] + " " + ELLIPSIS, block.font, room)
    return Block(tuple(lines), block.font, block.pitch, cut=True)


def draw_block(
    draw: ImageDraw.ImageDraw,
    block: Block,
    x: int,
    y: int,
    *,
    centre: int | None = None,
    fill: int = ON,
) -> int:
    """Draw `block` from (`x`, `y`), or centred on column `centre`; the y after it."""
    for line in block.lines:
        left = x if centre is None else centre - width(block.font, line) // 2
        draw.text((left, y), line, font=block.font, fill=fill)
        y += block.pitch
    return y


def _block(paragraphs: Sequence[str], font: Font, room: int) -> Block:
    lines = [line for paragraph in paragraphs for line in wrap(paragraph, font, room)]
    return Block(tuple(lines), font, pitch(font))


def _longest_prefix(text: str, font: Font, room: int) -> int:
    cut = len(text)
    while cut > 0 and width(font, text[:cut]) > room:
        cut -= 1
    return cut
