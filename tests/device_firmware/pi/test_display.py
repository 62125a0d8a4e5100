"""The OLED adapter: golden frames on luma's dummy device, the real drivers on a mock bus.

Golden images: ``tests/device_firmware/pi/golden/<name>.png``, one per screen of
`device_firmware.pi.screens.gallery()`, compared pixel for pixel. Regenerate them after an
intended change of layout, and look at the difference before committing::

    .venv/bin/python -m device_firmware.pi.screens tests/device_firmware/pi/golden \
        --record-renderer

Why exact: the frames are 1-bit and drawn without anti-aliasing, so the same Pillow, FreeType
and DejaVu files give the same pixels every time, and a one-pixel change is a real change (a
cursor, a PIN dot, a cut line). Glyph hinting does change between FreeType releases, so
``golden/RENDERER.json`` records the versions the images were made with; on another
FreeType or another DejaVu build the comparison allows `TOLERANCE` of the pixels to differ
(glyph edges move, the layout does not) and says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from luma.oled.device import sh1106, ssd1306  # type: ignore[import-untyped]
from PIL import Image, ImageChops

from device_firmware.core.screens import CodeScreen, MenuScreen, MessageScreen, Tone
from device_firmware.pi.display import OledDisplay, dummy_device
from device_firmware.pi.fonts import Fonts
from device_firmware.pi.frame import draw_screen
from device_firmware.pi.screens import gallery, main, renderer_facts
from tests.device_firmware.conftest import about_screens

GOLDEN = Path(__file__).parent / "golden"
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")
TOLERANCE = 0.02
SCREENS = gallery()


def lit(image: Image.Image) -> int:
    """How many pixels of a 1-bit image are on."""
    return image.convert("L").histogram()[255]


@pytest.mark.parametrize(("name", "screen"), SCREENS, ids=[name for name, _ in SCREENS])
def test_each_screen_matches_its_golden_image(name: str, screen: object, fonts: Fonts) -> None:
    device = dummy_device()
    display = OledDisplay(device, fonts)
    display.show(screen)  # type: ignore[arg-type]
    sent: Image.Image = device.image  # what reached the device
    assert sent.mode == "1" and sent.size == (128, 64)
    golden = Image.open(GOLDEN / f"{name}.png").convert("1")
    differing = lit(ImageChops.logical_xor(sent, golden))
    made_with = json.loads((GOLDEN / "RENDERER.json").read_text())
    exact = made_with == renderer_facts(fonts)
    allowed = 0 if exact else int(TOLERANCE * 128 * 64)
    assert differing <= allowed, (
        f"{name}: {differing} pixels differ from golden/{name}.png "
        f"({'same renderer' if exact else 'other FreeType or fonts'}); if the change is "
        "intended: python -m device_firmware.pi.screens tests/device_firmware/pi/golden "
        "--record-renderer"
    )


def test_the_golden_images_are_the_gallery() -> None:
    assert {p.stem for p in GOLDEN.glob("*.png")} == {name for name, _ in SCREENS}


def test_screens_module_writes_every_screen_scaled(tmp_path: Path, fonts: Fonts) -> None:
    assert main([str(tmp_path), "--scale", "4", "--prefix", "pi-"]) == 0
    written = sorted(tmp_path.glob("pi-*.png"))
    assert len(written) == len(SCREENS)
    image = Image.open(tmp_path / "pi-code.png")
    assert image.size == (512, 256)
    small = image.resize((128, 64), Image.Resampling.NEAREST).convert("1")
    code = dict(SCREENS)["code"]
    assert small.tobytes() == draw_screen(code, fonts).tobytes()


def test_spanish_accents_are_drawn(fonts: Fonts) -> None:
    plain = draw_screen(MessageScreen("Contrasena", ("ano",)), fonts)
    accented = draw_screen(MessageScreen("Contraseña", ("año",)), fonts)
    assert plain.tobytes() != accented.tobytes()
    # Each accented letter has its own glyph (no "missing glyph" box shared by all).
    shapes = {draw_screen(MessageScreen(c, ()), fonts).tobytes() for c in "áéíóúñÑ¿¡ü"}
    assert len(shapes) == len("áéíóúñÑ¿¡ü")


class MockSerial:
    """luma's serial interface, recording what a driver sends."""

    def __init__(self) -> None:
        self.commands: list[tuple[int, ...]] = []
        self.frames: list[list[int]] = []
        self.cleaned = False

    def command(self, *cmd: int) -> None:
        self.commands.append(cmd)

    def data(self, data: list[int]) -> None:
        self.frames.append(list(data))

    def cleanup(self) -> None:
        self.cleaned = True


def ssd1306_bytes(image: Image.Image) -> list[int]:
    """The SSD1306's GDDRAM for `image`: 8 pages of 128 columns, bit n = row 8*page + n."""
    pixels = image.load()
    assert pixels is not None
    return [
        sum(1 << bit for bit in range(8) if pixels[x, page * 8 + bit])
        for page in range(8)
        for x in range(128)
    ]


def test_the_ssd1306_driver_receives_complete_1024_byte_frames(fonts: Fonts) -> None:
    serial = MockSerial()
    device = ssd1306(serial, width=128, height=64, rotate=0)
    serial.frames.clear()  # the driver clears the panel when it starts
    display = OledDisplay(device, fonts)
    code = dict(SCREENS)["code"]
    display.show(code)
    assert [len(frame) for frame in serial.frames] == [1024]
    assert serial.frames[0] == ssd1306_bytes(draw_screen(code, fonts))
    display.close()
    assert serial.frames[-1] == [0] * 1024  # the last frame sent is dark
    assert (0xAE,) in serial.commands  # DISPLAYOFF
    assert serial.cleaned


def test_the_ssd1306_driver_rotated_180_degrees(fonts: Fonts) -> None:
    serial = MockSerial()
    display = OledDisplay(ssd1306(serial, rotate=2), fonts)
    serial.frames.clear()
    code = dict(SCREENS)["code"]
    display.show(code)
    upside_down = draw_screen(code, fonts).rotate(180)
    assert serial.frames == [ssd1306_bytes(upside_down)]


def test_the_sh1106_driver_receives_eight_pages_of_128_bytes(fonts: Fonts) -> None:
    serial = MockSerial()
    display = OledDisplay(sh1106(serial), fonts)
    serial.frames.clear()
    display.show(dict(SCREENS)["users"])
    assert [len(page) for page in serial.frames] == [128] * 8


def test_portrait_rotation_is_refused(fonts: Fonts) -> None:
    with pytest.raises(ValueError, match="rotate must be 0 or 2"):
        OledDisplay(ssd1306(MockSerial(), rotate=1), fonts)


def test_blank_keeps_the_latest_screen_for_wake(fonts: Fonts) -> None:
    serial = MockSerial()
    display = OledDisplay(ssd1306(serial), fonts)
    serial.frames.clear()
    display.blank()
    assert serial.commands[-1] == (0xAE,)  # panel off: nothing lit
    later = CodeScreen("Su código", "Ana", "123 456", 30, 60, "Cambia en 30 s")
    display.show(later)
    assert serial.frames == []  # nothing is sent while dark
    display.wake()
    assert serial.frames == [ssd1306_bytes(draw_screen(later, fonts))]
    assert serial.commands[-1] == (0xAF,)  # DISPLAYON


def test_the_dummy_device_is_not_left_lit_on_close(fonts: Fonts) -> None:
    device = dummy_device()
    display = OledDisplay(device, fonts)
    display.show(MenuScreen("Usuarios", ("Ana",), 0))
    assert device.image.getbbox() is not None
    display.close()
    assert device.image.getbbox() is None  # cleared
    assert device.persist is False


def test_an_error_reads_as_one_even_without_room_for_its_title(fonts: Fonts) -> None:
    long = "Una frase larga que no cabe. " * 6
    image = draw_screen(MessageScreen("Error", (long,), Tone.ERROR), fonts)
    assert lit(image) > 128 * 64 // 2  # drawn dark on a lit screen


def test_the_gallery_shows_every_place_of_the_core() -> None:
    from typing import get_args

    from device_firmware.core.state import Place
    from device_firmware.pi.screens import shots

    assert {type(shot.place) for shot in shots()} == set(get_args(Place))


@pytest.mark.parametrize(("name", "screen"), about_screens(), ids=[n for n, _ in about_screens()])
def test_about_fits_the_oled_without_a_cut(name: str, screen: MessageScreen, fonts: Fonts) -> None:
    from device_firmware.pi.frame import message_layout

    layout = message_layout(screen, fonts)
    assert not layout.body.cut, layout.body.lines  # every line is read in full
    assert layout.titled or name.endswith("-tofu")  # the extra line may take the title's room
    said = " ".join(layout.body.lines)
    assert all(word in said for line in screen.body for word in line.split())
