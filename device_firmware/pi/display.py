"""The `Display` port on an SSD1306 or SH1106 OLED through luma.oled.

`OledDisplay` draws each screen model with `frame.draw_screen` and sends the image to a luma
device. It can be blanked (`blank()`: the panel is switched off, screens keep arriving and the
last one is drawn on `wake()`), and `close()` clears and switches the panel off so no frame is
left burning into it after the service stops. `open_device(config)` makes the luma device the
configuration names; `dummy_device()` is luma's in-memory device for tests and screenshots.
"""

from __future__ import annotations

from typing import Any, Protocol

from PIL import Image

from device_firmware.core.screens import Screen
from device_firmware.pi.config import DisplayConfig
from device_firmware.pi.errors import DisplayUnavailable
from device_firmware.pi.fonts import Fonts
from device_firmware.pi.frame import HEIGHT, WIDTH, draw_screen


class LumaDevice(Protocol):
    """What the adapter uses of a luma.core device (ssd1306, sh1106, dummy)."""

    size: tuple[int, int]
    mode: str
    persist: bool

    def display(self, image: Image.Image) -> None:
        """Send a whole frame."""

    def show(self) -> None:
        """Switch the panel on."""

    def hide(self) -> None:
        """Switch the panel off (its memory is kept)."""

    def clear(self) -> None:
        """Send an all-dark frame."""

    def cleanup(self) -> None:
        """Switch off and clear unless `persist`, then release the bus."""


class OledDisplay:
    """The `Display` port on a luma device.

    Args:
        device: a 128x64 1-bit luma device.
        fonts: the faces `draw_screen` uses.

    Raises:
        ValueError: the device is not 128x64 in mode "1" after rotation (the layout is
            landscape: rotate 0 or 2).
    """

    def __init__(self, device: LumaDevice, fonts: Fonts) -> None:
        if tuple(device.size) != (WIDTH, HEIGHT) or device.mode != "1":
            raise ValueError(
                f"the token's layout needs a 128x64 1-bit display, not {device.size} "
                f"{device.mode!r} (rotate must be 0 or 2)"
            )
        device.persist = False  # luma's exit hook then clears and switches the panel off
        self._device = device
        self._fonts = fonts
        self._screen: Screen | None = None
        self._drawn: Screen | None = None  # the screen `_image` shows
        self._image = Image.new("1", (WIDTH, HEIGHT))
        self._blanked = False
        self._closed = False

    @property
    def screen(self) -> Screen | None:
        """The last screen model shown (drawn, or waiting for the panel to wake)."""
        return self._screen

    @property
    def image(self) -> Image.Image:
        """The frame of the last screen model (drawn when first needed)."""
        if self._screen is not None and self._drawn is not self._screen:
            self._image = draw_screen(self._screen, self._fonts)
            self._drawn = self._screen
        return self._image

    @property
    def blanked(self) -> bool:
        """The panel is switched off by `blank()`."""
        return self._blanked

    def show(self, screen: Screen) -> None:
        """Draw `screen` (while blanked: keep it, undrawn, for `wake()`)."""
        self._screen = screen
        if not self._blanked and not self._closed:
            self._device.display(self.image)

    def blank(self) -> None:
        """Switch the panel off: nothing is lit, nothing burns in."""
        if not self._blanked and not self._closed:
            self._device.hide()
        self._blanked = True

    def wake(self) -> None:
        """Switch the panel on with the latest screen."""
        if self._blanked and not self._closed:
            self._device.display(self.image)
            self._device.show()
        self._blanked = False

    def close(self) -> None:
        """Clear the panel, switch it off and release the bus (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._device.clear()
        self._device.cleanup()  # persist is False: hides and clears, then closes the bus


def open_device(config: DisplayConfig) -> LumaDevice:
    """The luma device for `config`: driver ssd1306/sh1106 on I2C or SPI, rotation applied.

    Raises:
        DisplayUnavailable: the bus or the display is not there (the message says what to
            check).
    """
    import luma.core.error  # type: ignore[import-untyped]
    from luma.core.interface import serial  # type: ignore[import-untyped]
    from luma.oled import device as oled  # type: ignore[import-untyped]

    try:
        interface: Any
        if config.bus == "i2c":
            interface = serial.i2c(port=config.i2c_port, address=config.i2c_address)
        else:
            interface = serial.spi(
                port=config.spi_port,
                device=config.spi_device,
                gpio_DC=config.spi_dc,
                gpio_RST=config.spi_reset,
            )
        driver = {"ssd1306": oled.ssd1306, "sh1106": oled.sh1106}[config.driver]
        made: LumaDevice = driver(interface, width=WIDTH, height=HEIGHT, rotate=config.rotate)
    except (luma.core.error.Error, OSError, ImportError) as exc:
        where = (
            f"I2C bus {config.i2c_port} address {config.i2c_address:#04x}"
            if config.bus == "i2c"
            else f"SPI {config.spi_port}.{config.spi_device}"
        )
        raise DisplayUnavailable(
            f"no {config.driver} display on {where}: {exc} (is {config.bus.upper()} enabled "
            "in raspi-config, and the wiring as in docs/pi.md?)"
        ) from exc
    if config.contrast is not None:
        made.contrast(config.contrast)  # type: ignore[attr-defined]
    return made


def dummy_device() -> LumaDevice:
    """luma's in-memory 128x64 1-bit device: keeps the last frame in `.image`."""
    from luma.core.device import dummy  # type: ignore[import-untyped]

    made: LumaDevice = dummy(width=WIDTH, height=HEIGHT, mode="1")
    return made
