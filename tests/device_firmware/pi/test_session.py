"""A whole session on the mocked hardware: keys pressed on the simulated matrix, read by
`MatrixKeypad` on gpiozero's MockFactory, the core and the file vault behind them, frames
drawn by `OledDisplay` on luma's dummy device. The code shown must be oathtool's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from device_firmware.core import CodeScreen, MenuScreen, Token
from device_firmware.core.codes import grouped
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.records import Credential, TokenData
from device_firmware.pi.config import LAYOUTS, KeypadConfig
from device_firmware.pi.display import LumaDevice, OledDisplay, dummy_device
from device_firmware.pi.fonts import Fonts
from device_firmware.pi.frame import draw_screen
from device_firmware.pi.keypad import MatrixKeypad
from device_firmware.pi.service import serve
from device_firmware.vault import FileVault
from tests.device_firmware.pi.simulated_matrix import FakeTime, SimulatedMatrix
from tests.device_firmware.vault_samples import PIN, TINY_COST
from tests.oracles import oathtool_totp

ROWS = (5, 6, 13, 19)
COLUMNS = (12, 16, 20, 21)
ANA = Credential("cred-1", "Banco Improsa", "ana", "Ana Pérez", bytes(range(20)))
BETO = Credential("cred-2", "Banco Improsa", "beto", "Beto Ruiz", bytes(range(40, 60)))


@dataclass
class Hardware:
    matrix: SimulatedMatrix
    keypad: MatrixKeypad
    device: LumaDevice
    display: OledDisplay
    vault: FileVault
    time: FakeTime

    def run_until(self, end: float, *, blank_after: float = 60.0) -> Token:
        """Run the service until the fake time reaches `end`."""
        return self.run(lambda: self.time.t < end, blank_after=blank_after)

    def run(self, keep_going: Callable[[], bool], *, blank_after: float = 60.0) -> Token:
        """Run the service while `keep_going()`."""
        return serve(
            keypad=self.keypad,
            display=self.display,
            clock=self.time,
            clock_check=self.time,
            vault=self.vault,
            link=FakeServerLink(self.time),
            blank_after=blank_after,
            keep_going=keep_going,
            monotonic=self.time.monotonic,
        )


@pytest.fixture
def hardware(
    tmp_path: Path, pin_factory: MockFactory, fake_time: FakeTime, fonts: Fonts
) -> Iterator[Hardware]:
    vault = FileVault(tmp_path / "token", kdf_cost=TINY_COST)
    vault.create(PIN, TokenData(credentials=(ANA, BETO)))
    vault.lock()
    config = KeypadConfig(rows=ROWS, columns=COLUMNS)
    matrix = SimulatedMatrix(pin_factory, LAYOUTS["4x4"], ROWS, COLUMNS, fake_time)
    keypad = MatrixKeypad(
        config, pin_factory=pin_factory, monotonic=fake_time.monotonic, sleep=fake_time.sleep
    )
    device = dummy_device()
    display = OledDisplay(device, fonts)
    yield Hardware(matrix, keypad, device, display, vault, fake_time)
    keypad.close()
    display.close()


def test_pin_pick_a_user_and_the_code_is_oathtools(hardware: Hardware, fonts: Fonts) -> None:
    done = hardware.matrix.type(PIN + "#" + "B" + "#", start=0.5)  # PIN, down to Beto, OK
    hardware.run_until(done + 1.0)
    screen = hardware.display.screen
    assert isinstance(screen, CodeScreen)
    assert screen.user == "Beto Ruiz"
    unix_time = int(hardware.time.now())
    assert screen.code == grouped(oathtool_totp(BETO.seed, "SHA1", 6, 60, unix_time))
    assert screen.seconds_left == 60 - unix_time % 60
    # What reached the panel is that screen, pixel for pixel.
    assert hardware.device.image.tobytes() == draw_screen(screen, fonts).tobytes()


def test_the_screen_goes_dark_when_idle_and_the_waking_key_is_not_typed(
    hardware: Hardware,
) -> None:
    matrix, display = hardware.matrix, hardware.display
    opened = matrix.type(PIN + "#" + "1", start=0.5)  # Ana's code
    woke = matrix.type("C", start=opened + 6.0)  # 5 s idle: dark; C wakes it
    back = matrix.type("C", start=woke + 1.0)  # this C goes back to the list
    seen: dict[str, tuple[bool, str]] = {}

    def look(name: str, at: float) -> None:
        if name not in seen and hardware.time.t >= at:
            seen[name] = (display.blanked, type(display.screen).__name__)

    def keep_going() -> bool:
        look("idle", opened + 5.5)
        look("woken", woke + 0.5)
        return hardware.time.t < back + 1.0

    hardware.run(keep_going, blank_after=5.0)
    assert seen["idle"] == (True, "CodeScreen")  # dark, the code kept for waking
    assert seen["woken"] == (False, "CodeScreen")  # C only woke the screen
    assert (display.blanked, type(display.screen)) == (False, MenuScreen)
