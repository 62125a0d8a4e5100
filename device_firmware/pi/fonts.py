"""The fonts the OLED uses: DejaVu Sans, from Debian's `fonts-dejavu-core`.

Pillow's built-in bitmap font has no accents (the Spanish screens need á é í ó ú ñ ¿ ¡), so the
display draws with DejaVu: it covers Latin-1 and more, it is hinted well enough to stay crisp
without anti-aliasing on a 1-bit display, and Raspberry Pi OS and Debian ship it as
`fonts-dejavu-core` (installed in `/usr/share/fonts/truetype/dejavu/`). No font is copied into
this repository.

Text is laid out with Pillow's basic layout engine, never Raqm: the frames (and the golden
images the tests compare) must not depend on whether libraqm happens to be installed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

from device_firmware.pi.config import DEFAULT_FONT_DIR
from device_firmware.pi.errors import FontsMissing

REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"
MONO_BOLD = "DejaVuSansMono-Bold.ttf"
FILES = (REGULAR, BOLD, MONO_BOLD)
DEBIAN_PACKAGE = "fonts-dejavu-core"

Font = ImageFont.FreeTypeFont


@dataclass(frozen=True)
class Fonts:
    """The three faces the layouts use, at any pixel size (loaded once per size).

    Attributes:
        directory: where DejaVuSans.ttf, DejaVuSans-Bold.ttf and DejaVuSansMono-Bold.ttf are.
    """

    directory: Path = DEFAULT_FONT_DIR

    def regular(self, size: int) -> Font:
        """DejaVu Sans: body text, list items."""
        return _load(self.directory / REGULAR, size)

    def bold(self, size: int) -> Font:
        """DejaVu Sans Bold: titles, the user's name."""
        return _load(self.directory / BOLD, size)

    def digits(self, size: int) -> Font:
        """DejaVu Sans Mono Bold: codes, PINs and IDs (every digit the same width)."""
        return _load(self.directory / MONO_BOLD, size)


def load_fonts(directory: Path = DEFAULT_FONT_DIR) -> Fonts:
    """The display's fonts from `directory`, checked to be there.

    Raises:
        FontsMissing: a file is missing; the message names the Debian package.
    """
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise FontsMissing(
            f"{', '.join(missing)} not found in {directory}: install the Debian package "
            f"{DEBIAN_PACKAGE} (apt install {DEBIAN_PACKAGE}) or set display.font_dir"
        )
    return Fonts(directory)


@functools.cache
def _load(path: Path, size: int) -> Font:
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
