"""The `Keypad` port on a membrane matrix keypad wired to the Pi's GPIO, through gpiozero.

gpiozero has no keypad class, so this one scans the matrix itself. Columns are inputs with
the Pi's internal pull-ups; rows are driven low one at a time and a column that reads low
has a closed key at the crossing. Rows that are not being read are released to inputs with
pull-ups rather than driven high: two keys held in one column would otherwise join a row
driven high to a row driven low (a short between two outputs). Adafruit's CircuitPython
MatrixKeypad scans the same way.

While nothing is pressed all rows are driven low together, so one read of the columns
answers "is any key down?" and a full scan runs only while a key is held: the idle token
reads four pins every `scan_interval`.

Debouncing, one event per press and held keys are `debounce.KeyDebouncer`'s job. Time and
sleeping are injected (`monotonic`, `sleep`) so tests run a simulated matrix without waiting.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gpiozero import GPIODevice, GPIOZeroError, InputDevice  # type: ignore[import-untyped]

from device_firmware.core.keys import Key
from device_firmware.pi.config import KeypadConfig
from device_firmware.pi.debounce import KeyDebouncer
from device_firmware.pi.errors import KeypadUnavailable


class MatrixKeypad:
    """The `Keypad` port on a row/column matrix.

    Args:
        config: pins (BCM), printed layout, debounce, scan interval, held keys.
        pin_factory: gpiozero pin factory (None: gpiozero's default, lgpio on a Pi; tests
            pass a `MockFactory`).
        monotonic: the clock scans are timed with.
        sleep: waits between scans.

    Raises:
        KeypadUnavailable: no GPIO (not a Pi, no lgpio) or a pin is taken by another
            device; nothing is left reserved.
    """

    def __init__(
        self,
        config: KeypadConfig,
        *,
        pin_factory: Any = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._layout = [[Key.parse(char) for char in row] for row in config.keys]
        self._interval = config.scan_interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._debouncer = KeyDebouncer(
            debounce=config.debounce, hold=config.hold, hold_time=config.hold_time
        )
        self._pending: deque[Key] = deque()
        self._rows: list[Any] = []
        self._columns: list[Any] = []
        try:
            for pin in config.columns:
                self._columns.append(InputDevice(pin, pull_up=True, pin_factory=pin_factory))
            for pin in config.rows:
                self._rows.append(GPIODevice(pin, pin_factory=pin_factory))
        except (GPIOZeroError, OSError, ImportError) as exc:
            self.close()
            raise KeypadUnavailable(
                f"the keypad's pins (rows {list(config.rows)}, columns "
                f"{list(config.columns)}) cannot be used: {exc}"
            ) from exc
        self._drive_all()

    def read_key(self, timeout: float) -> Key | None:
        """The next key pressed within `timeout` seconds, or None."""
        deadline = self._monotonic() + timeout
        while True:
            if self._pending:
                return self._pending.popleft()
            now = self._monotonic()
            self._pending.extend(self._debouncer.update(self.scan(), now))
            if self._pending:
                return self._pending.popleft()
            if now >= deadline:
                return None
            self._sleep(min(self._interval, deadline - now))

    def scan(self) -> frozenset[Key]:
        """The keys whose contacts are closed right now (no debouncing)."""
        if not any(column.is_active for column in self._columns):
            return frozenset()  # all rows are low: nothing closed anywhere
        for row in self._rows:
            self._release(row)
        down: set[Key] = set()
        for keys, row in zip(self._layout, self._rows, strict=True):
            self._drive(row)
            down.update(
                key for key, column in zip(keys, self._columns, strict=True) if column.is_active
            )
            self._release(row)
        self._drive_all()
        return frozenset(down)

    def close(self) -> None:
        """Release every pin (rows back to inputs); idempotent."""
        for device in (*self._rows, *self._columns):
            device.close()
        self._rows, self._columns = [], []

    def __enter__(self) -> MatrixKeypad:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _drive_all(self) -> None:
        for row in self._rows:
            self._drive(row)

    @staticmethod
    def _drive(row: Any) -> None:
        row.pin.function = "output"
        row.pin.state = False

    @staticmethod
    def _release(row: Any) -> None:
        row.pin.function = "input"
        row.pin.pull = "up"
