"""Every frame as a PNG: the emulator's ``--capture DIR``.

`CapturingDisplay` wraps another `Display` (the terminal's) and also draws each screen model
with the Pi's own renderer (`device_firmware.pi.frame.draw_screen`, PIL only: no gpiozero or
luma is imported) into ``DIR/frame-00001.png``, ``frame-00002.png``, ... (numbering goes on
after the frames of an earlier run) at the OLED's 128x64, or enlarged by `scale` (nearest
neighbour, so pixels stay square). The files show what the screen showed, codes and the
letter of a password being typed included: keep them private.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from device_firmware.core.ports import Display
from device_firmware.core.screens import Screen
from device_firmware.pi.fonts import Fonts
from device_firmware.pi.frame import draw_screen


class CapturingDisplay:
    """The `Display` port that passes screens on and saves each one as a PNG.

    Args:
        inner: the display that shows the screens (a terminal).
        directory: where the PNG files go (created if missing).
        fonts: the faces the Pi's renderer uses (`pi.fonts.load_fonts`).
        scale: how many screen pixels per OLED pixel.
    """

    def __init__(self, inner: Display, directory: Path, fonts: Fonts, *, scale: int = 1) -> None:
        if scale < 1:
            raise ValueError("scale is at least 1")
        directory.mkdir(parents=True, exist_ok=True)
        self.inner = inner
        self.directory = directory
        self.scale = scale
        self.saved: list[Path] = []
        self._fonts = fonts
        self._count = len(list(directory.glob("frame-*.png")))

    def show(self, screen: Screen) -> None:
        """Show `screen` on the inner display and write its PNG."""
        self.inner.show(screen)
        image = draw_screen(screen, self._fonts)
        if self.scale > 1:
            size = (image.width * self.scale, image.height * self.scale)
            image = image.resize(size, Image.Resampling.NEAREST)
        self._count += 1
        path = self.directory / f"frame-{self._count:05d}.png"
        image.save(path)
        self.saved.append(path)
