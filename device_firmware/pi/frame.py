"""Screen models drawn for a 128x64 1-bit OLED: `draw_screen(screen, fonts) -> Image`.

The layouts are made to be read at arm's length on a 0.96" or 1.3" panel:

- code: the user's name on top, the code in digits 22-24 px tall in two groups, the
  countdown as a bar that empties, with the seconds beside it;
- PIN: one box per digit, a dot for each typed digit, the next place underlined;
- lists: the highlighted item drawn inverted (and wrapped, so it is read in full), numbers
  1-9 in front of items, arrows at the edge when the list goes on above or below;
- messages: the title (inverted for errors), the sentences wrapped and shrunk to fit, and a
  digits-only paragraph (the device ID) in large digits, two groups a line.

Key hints ("A/B mover  # elegir") are left to the printed key card (docs/pi.md) except in
text entry and in messages where they fit: at this size they would crowd out what matters.
This module only draws; `display.OledDisplay` sends the images to the panel.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

from device_firmware.core.screens import (
    CodeScreen,
    DigitEntryScreen,
    MenuScreen,
    MessageScreen,
    Screen,
    TextEntryScreen,
    Tone,
)
from device_firmware.pi.fonts import Font, Fonts
from device_firmware.pi.text_layout import (
    OFF,
    ON,
    Block,
    draw_block,
    ellipsize,
    fit,
    keep_together,
    pitch,
    width,
)

WIDTH = 128
HEIGHT = 64
SIZE = (WIDTH, HEIGHT)
MARGIN = 1
TITLE_SIZES = (11, 10, 9)
BODY_SIZES = (11, 10, 9)  # below 9 px DejaVu's hinting turns v into r: never smaller
ITEM_SIZE = 10
SMALL = 9
NUMBER_SIZE = 16
ID_SIZE = 14
PIN_AREA = 14
BAR_HEIGHT = 7
SCROLL_MARK = 5


def draw_screen(screen: Screen, fonts: Fonts) -> Image.Image:
    """`screen` as a 128x64 1-bit image (lit pixels are 1)."""
    image = Image.new("1", SIZE, OFF)
    draw = ImageDraw.Draw(image)
    match screen:
        case CodeScreen():
            _code(draw, screen, fonts)
        case MenuScreen():
            _menu(draw, screen, fonts)
        case MessageScreen():
            _message(draw, screen, fonts)
        case DigitEntryScreen():
            _digits(draw, screen, fonts)
        case TextEntryScreen():
            _text(draw, screen, fonts)
        case _:
            raise TypeError(f"not a screen model: {screen!r}")
    return image


# Code ----------------------------------------------------------------------------------


def _code(draw: ImageDraw.ImageDraw, screen: CodeScreen, fonts: Fonts) -> None:
    name = fonts.bold(11)
    draw.text((MARGIN, 0), ellipsize(screen.user, name, WIDTH - 2 * MARGIN), font=name, fill=ON)
    groups = screen.code.split()
    font = _largest_digits(fonts, groups, WIDTH - 2)
    advance = width(font, "0")
    gap = max(6, advance // 2)
    total = sum(width(font, group) for group in groups) + gap * (len(groups) - 1)
    x = (WIDTH - total) // 2
    _, top, _, bottom = (int(v) for v in font.getbbox("0"))
    countdown_top = HEIGHT - BAR_HEIGHT - 2
    y = 14 + (countdown_top - 14 - (bottom - top)) // 2 - top  # centred between name and bar
    for group in groups:
        draw.text((x, y), group, font=font, fill=ON)
        x += width(font, group) + gap
    _countdown(draw, screen, fonts.regular(10))


def _largest_digits(fonts: Fonts, groups: list[str], room: int) -> Font:
    digits = sum(len(group) for group in groups)
    for size in range(34, 9, -1):
        font = fonts.digits(size)
        advance = width(font, "0")
        if digits * advance + max(6, advance // 2) * (len(groups) - 1) <= room:
            return font
    return fonts.digits(10)


def _countdown(draw: ImageDraw.ImageDraw, screen: CodeScreen, font: Font) -> None:
    label = f"{screen.seconds_left} s"
    label_width = width(font, "60 s")
    bar_right = WIDTH - label_width - 4
    top = HEIGHT - BAR_HEIGHT - 2
    draw.rectangle((MARGIN, top, bar_right, top + BAR_HEIGHT), outline=ON)
    inner = bar_right - MARGIN - 3
    filled = round(inner * max(0, min(screen.seconds_left, screen.period)) / screen.period)
    if filled > 0:
        draw.rectangle((MARGIN + 2, top + 2, MARGIN + 1 + filled, top + BAR_HEIGHT - 2), fill=ON)
    text_top = top + (BAR_HEIGHT + 1 - pitch(font)) // 2
    draw.text((WIDTH - width(font, label), text_top), label, font=font, fill=ON)


# Title ---------------------------------------------------------------------------------


def _title_block(title: str, fonts: Fonts) -> Block:
    """One line if any size allows it, else two."""
    room = WIDTH - 2 * MARGIN
    one = fit([title], fonts.bold, TITLE_SIZES, room, 12, max_lines=1)
    return one if not one.cut else fit([title], fonts.bold, TITLE_SIZES, room, 24, max_lines=2)


def _title_height(title: str, fonts: Fonts) -> int:
    return _title_block(title, fonts).height + 2


def _title(draw: ImageDraw.ImageDraw, title: str, fonts: Fonts, *, tone: Tone = Tone.INFO) -> int:
    """Draw the title (two lines at most, inverted for errors) and a rule; the y below."""
    if tone is Tone.SUCCESS:
        title = "✓ " + title
    block = _title_block(title, fonts)
    if tone is Tone.ERROR:
        draw.rectangle((0, 0, WIDTH - 1, block.height), fill=ON)
        for row, line in enumerate(block.lines):
            draw.text((MARGIN + 1, row * block.pitch), line, font=block.font, fill=OFF)
        return block.height + 2
    draw_block(draw, block, MARGIN, 0)
    draw.line((0, block.height, WIDTH - 1, block.height), fill=ON)
    return block.height + 2


# Menu ----------------------------------------------------------------------------------


def _menu(draw: ImageDraw.ImageDraw, screen: MenuScreen, fonts: Fonts) -> None:
    y = _title(draw, screen.title, fonts)
    if screen.note:
        note = fit([screen.note], fonts.regular, (SMALL,), WIDTH - 2 * MARGIN, 20, max_lines=2)
        y = draw_block(draw, note, MARGIN, y) + 1
    if not screen.items:
        return
    font = fonts.regular(ITEM_SIZE)
    line = pitch(font)
    cursor = min(max(screen.cursor, 0), len(screen.items) - 1)
    blocks = [_item(screen.items, index, cursor, font) for index in range(len(screen.items))]
    start, stop = _window(blocks, cursor, HEIGHT - y, line)
    scrolls = start > 0 or stop < len(blocks)
    list_top = y
    for index in range(start, stop):
        lines = blocks[index]
        room = WIDTH - (SCROLL_MARK + 2 if scrolls else 0)
        if index == cursor:
            draw.rectangle((0, y, room - 1, y + line * len(lines) - 1), fill=ON)
        for row, text in enumerate(lines):
            fill = OFF if index == cursor else ON
            draw.text((MARGIN + 1, y + row * line), text, font=font, fill=fill)
        y += line * len(lines)
    if start > 0:
        _triangle(draw, WIDTH - SCROLL_MARK - 1, list_top + 1, up=True)
    if stop < len(blocks):
        _triangle(draw, WIDTH - SCROLL_MARK - 1, HEIGHT - SCROLL_MARK - 1, up=False)


def _item(items: tuple[str, ...], index: int, cursor: int, font: Font) -> list[str]:
    """The lines of item `index`: numbered 1-9; the highlighted one wraps to two lines."""
    number = f"{index + 1} " if index < 9 else ""
    text = number + items[index]
    room = WIDTH - 2 * MARGIN - SCROLL_MARK - 4
    if index != cursor or width(font, text) <= room:
        return [ellipsize(text, font, room)]
    first = fit([text], lambda _size: font, (ITEM_SIZE,), room, 2 * pitch(font), max_lines=2)
    return list(first.lines)


def _window(blocks: list[list[str]], cursor: int, room: int, line: int) -> tuple[int, int]:
    """The items [start, stop) shown in `room` pixels: as many as fit, the highlighted one
    always among them."""
    start = 0
    while sum(len(b) for b in blocks[start : cursor + 1]) * line > room:
        start += 1
    stop = start
    used = 0
    while stop < len(blocks) and used + len(blocks[stop]) * line <= room:
        used += len(blocks[stop]) * line
        stop += 1
    return start, max(stop, cursor + 1)


def _triangle(draw: ImageDraw.ImageDraw, x: int, y: int, *, up: bool) -> None:
    s = SCROLL_MARK
    if up:
        draw.polygon([(x, y + s - 1), (x + s - 1, y + s - 1), (x + (s - 1) // 2, y)], fill=ON)
    else:
        draw.polygon([(x, y), (x + s - 1, y), (x + (s - 1) // 2, y + s - 1)], fill=ON)


# Message -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageLayout:
    """How a `MessageScreen` is laid out: what is kept, at which size.

    Attributes:
        titled: the title is drawn (it goes when the sentences need its room).
        body: the sentences, wrapped; `body.cut` when even that was not enough.
        hint: the key hint, or no lines when it did not fit.
        numbers: a digits-only paragraph (the device ID) as lines of large digits.
        space: the height left for the sentences and the hint.
    """

    titled: bool
    body: Block
    hint: Block
    numbers: tuple[str, ...]
    space: int


def message_layout(screen: MessageScreen, fonts: Fonts) -> MessageLayout:
    """The layout of `screen`: the sentences come first, then the hint, then the title."""
    texts = [p for p in screen.body if not _is_number(p)]
    numbers = tuple(line for p in screen.body if _is_number(p) for line in _number_lines(p))
    room = WIDTH - 2 * MARGIN
    small = fonts.regular(SMALL)
    for titled in (True, False):
        space = HEIGHT - len(numbers) * _number_pitch(fonts) - (2 if numbers else 0)
        space -= _title_height(screen.title, fonts) if titled else 0
        hint = fit([keep_together(screen.hint)], fonts.regular, (SMALL,), room, pitch(small))
        body = fit(texts, fonts.regular, BODY_SIZES, room, space - hint.height)
        if not screen.hint or body.cut:
            hint = Block((), small, pitch(small))
            body = fit(texts, fonts.regular, BODY_SIZES, room, space)
        if not body.cut:
            break
    return MessageLayout(titled, body, hint, numbers, space)


def _number_pitch(fonts: Fonts) -> int:
    _, top, _, bottom = (int(v) for v in fonts.digits(ID_SIZE).getbbox("0"))
    return bottom - top + 3


def _message(draw: ImageDraw.ImageDraw, screen: MessageScreen, fonts: Fonts) -> None:
    """Title, sentences, large digits for a number, the hint if there is room.

    The sentences come first: the hint goes if they would not fit with it, and then the
    title (an error is then drawn dark on a lit screen, so it still reads as an error).
    """
    layout = message_layout(screen, fonts)
    body, space = layout.body, layout.space
    digits = fonts.digits(ID_SIZE)
    _, top, _, _ = (int(v) for v in digits.getbbox("0"))
    ink = ON
    if layout.titled:
        y = _title(draw, screen.title, fonts, tone=screen.tone)
    else:
        y = max(0, (space - body.height) // 2)
        if screen.tone is Tone.ERROR:
            draw.rectangle((0, 0, WIDTH - 1, HEIGHT - 1), fill=ON)
            ink = OFF
    if screen.tone is Tone.BUSY:
        y += max(0, (space - body.height) // 2)
        draw_block(draw, body, 0, y, centre=WIDTH // 2, fill=ink)
        return
    y = draw_block(draw, body, MARGIN, y, fill=ink) + 2
    for line in layout.numbers:
        draw.text(((WIDTH - width(digits, line)) // 2, y + 1 - top), line, font=digits, fill=ink)
        y += _number_pitch(fonts)
    draw_block(draw, layout.hint, MARGIN, HEIGHT - layout.hint.height, fill=ink)


def _is_number(paragraph: str) -> bool:
    digits = paragraph.replace(" ", "")
    return len(digits) >= 8 and digits.isascii() and digits.isdigit()


def _number_lines(number: str) -> list[str]:
    """A long number (the device ID) two groups a line, to be typed into the bank's portal."""
    groups = number.split()
    return [" ".join(groups[i : i + 2]) for i in range(0, len(groups), 2)]


# Digit entry ---------------------------------------------------------------------------


def _digits(draw: ImageDraw.ImageDraw, screen: DigitEntryScreen, fonts: Fonts) -> None:
    """Title, note, then the PIN's places or the code typed so far at the bottom.

    A note that would be cut short (the last-attempt warning) takes the title's place: the
    warning matters more, and the PIN places already say what is being typed.
    """
    code_font = fonts.digits(NUMBER_SIZE)
    entry_top = HEIGHT - (PIN_AREA if screen.length is not None else pitch(code_font) + 1)
    room = WIDTH - 2 * MARGIN
    note = fit(
        [screen.note], fonts.regular, (10, 9), room, entry_top - _title_height(screen.title, fonts)
    )
    if screen.note and note.cut:
        note = fit([screen.note], fonts.regular, (10, 9), room, entry_top)
        draw_block(draw, note, MARGIN, 0)
    else:
        y = _title(draw, screen.title, fonts)
        y = draw_block(draw, note, MARGIN, y)
        if not screen.note:  # the places in the middle of the free space
            entry_top = y + (entry_top - y) // 2
    if screen.length is not None:
        _pin_places(draw, len(screen.shown), screen.length, entry_top)
    else:
        _typed_code(draw, screen.shown, code_font, entry_top)


def _pin_places(draw: ImageDraw.ImageDraw, typed: int, length: int, top: int) -> None:
    box, gap = 14, 8
    x = (WIDTH - length * box - (length - 1) * gap) // 2
    bottom = top + PIN_AREA - 1
    for place in range(length):
        left = x + place * (box + gap)
        if place < typed:
            draw.ellipse((left + 2, top + 1, left + box - 3, top + box - 4), fill=ON)
        thickness = 3 if place == typed else 1  # the next digit's place is underlined
        draw.rectangle((left, bottom - thickness + 1, left + box - 1, bottom), fill=ON)


def _typed_code(draw: ImageDraw.ImageDraw, shown: str, font: Font, top: int) -> None:
    advance = width(font, "0")
    room = WIDTH - 2 * MARGIN - advance  # keep a place for the cursor
    text = shown
    if width(font, text) > room:  # show the end of a long code
        keep = room // advance - 1
        text = "…" + shown[-keep:]
    x = (WIDTH - width(font, text) - advance) // 2
    draw.text((x, top), text, font=font, fill=ON)
    cursor = x + width(font, text)
    line = top + pitch(font) - 1
    draw.rectangle((cursor + 1, line, cursor + advance - 1, line + 1), fill=ON)


# Text entry ----------------------------------------------------------------------------


def _text(draw: ImageDraw.ImageDraw, screen: TextEntryScreen, fonts: Fonts) -> None:
    mode_font = fonts.bold(9)
    mode_width = width(mode_font, screen.mode) + 4
    title = fit([screen.title], fonts.bold, TITLE_SIZES, WIDTH - mode_width - 4, 12, max_lines=1)
    draw_block(draw, title, MARGIN, 0)
    draw.rectangle((WIDTH - mode_width, 0, WIDTH - 1, 11), fill=ON)
    draw.text((WIDTH - mode_width + 2, 0), screen.mode, font=mode_font, fill=OFF)
    _field(draw, screen, fonts.regular(12), top=15)
    if screen.hint:
        hint = fit([keep_together(screen.hint)], fonts.regular, (SMALL,), WIDTH - 2 * MARGIN, 20)
        draw_block(draw, hint, MARGIN, HEIGHT - hint.height)


def _field(draw: ImageDraw.ImageDraw, screen: TextEntryScreen, font: Font, top: int) -> None:
    """The typed line in a box, scrolled so the cursor shows; a pending letter underlined."""
    line = pitch(font)
    bottom = top + line + 4
    draw.rectangle((0, top, WIDTH - 1, bottom), outline=ON)
    room = WIDTH - 8
    cursor = min(max(screen.cursor, 0), len(screen.text))
    before = width(font, screen.text[:cursor])
    shift = max(0, before - room)
    x = 4 - shift
    field = Image.new("1", (WIDTH - 4, line + 2), OFF)
    inner = ImageDraw.Draw(field)
    inner.text((x - 2, 0), screen.text, font=font, fill=ON)
    cursor_x = x - 2 + before
    inner.line((cursor_x, 0, cursor_x, line), fill=ON)
    if screen.pending and cursor > 0:
        start = x - 2 + width(font, screen.text[: cursor - 1])
        inner.line((start, line + 1, cursor_x - 2, line + 1), fill=ON)
    draw.bitmap((2, top + 2), field, fill=ON)
