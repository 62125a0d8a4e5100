"""A membrane keypad simulated on gpiozero's MockFactory, and a clock tests move by hand.

A column pin reads low while a closed key joins it to a row that is driven low (an output at
0); otherwise its pull-up holds it high. Key contacts follow a timeline in the fake time, so
bounces and holds are scripted exactly and `MatrixKeypad`'s injected `sleep` moves the time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin  # type: ignore[import-untyped]

from device_firmware.core.keys import Key

UNIX_START = 1_800_000_000.0


class FakeTime:
    """Monotonic time that moves only when something sleeps (or a test advances it).

    Also the core's `Clock` (Unix time = `UNIX_START` + the monotonic time) and `ClockCheck`.
    """

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps = 0
        self.known = True

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.t += max(seconds, 0.0)

    def now(self) -> float:
        return UNIX_START + self.t

    def is_set(self) -> bool:
        return self.known


class MatrixColumnPin(MockPin):  # type: ignore[misc]
    """A column's input pin whose level the `SimulatedMatrix` decides."""

    def __init__(self, factory: Any, info: Any, matrix: SimulatedMatrix | None = None) -> None:
        super().__init__(factory, info)
        self.matrix = matrix

    def _get_state(self) -> bool:
        if self._function == "output" or self.matrix is None:
            return bool(super()._get_state())
        return not self.matrix.pulls_low(self)


class SimulatedMatrix:
    """The keypad's wiring: which contacts are closed, when, and what the columns read.

    Args:
        factory: the MockFactory the keypad will use (pins are made here first).
        keys: the printed layout, one string per row.
        rows: row pins (BCM).
        columns: column pins (BCM).
        time: the fake time contacts follow.
    """

    def __init__(
        self,
        factory: MockFactory,
        keys: Sequence[str],
        rows: Sequence[int],
        columns: Sequence[int],
        time: FakeTime,
    ) -> None:
        self.time = time
        self.row_pins = [factory.pin(pin) for pin in rows]
        self.column_pins = [
            factory.pin(pin, pin_class=MatrixColumnPin, matrix=self) for pin in columns
        ]
        self.where = {
            Key.parse(char): (r, c) for r, row in enumerate(keys) for c, char in enumerate(row)
        }
        self._changes: list[tuple[float, int, Key, bool]] = []  # (time, order, key, closed)

    def set(self, key: Key, closed: bool, at: float) -> None:
        """From `at` on, `key`'s contact is closed (or open)."""
        bisect.insort(self._changes, (at, len(self._changes), key, closed))

    def press(self, key: Key, at: float, duration: float = 0.08) -> float:
        """A clean press from `at` for `duration` seconds; when it is released."""
        self.set(key, True, at)
        self.set(key, False, at + duration)
        return at + duration

    def bounce(self, key: Key, at: float, flips: Iterable[float], duration: float) -> None:
        """A press whose contact chatters at the times `flips` (after `at`) before settling."""
        closed = True
        self.set(key, True, at)
        for flip in flips:
            closed = not closed
            self.set(key, closed, at + flip)
        if not closed:
            self.set(key, True, at + max(flips, default=0.0) + 0.001)
        self.set(key, False, at + duration)

    def type(self, text: str, start: float, gap: float = 0.12, duration: float = 0.08) -> float:
        """Press each key printed in `text` in turn; the time after the last release."""
        at = start
        for char in text:
            at = self.press(Key.parse(char), at, duration) + gap
        return at

    def closed(self) -> set[Key]:
        """The keys whose contacts are closed at the current fake time."""
        state: dict[Key, bool] = {}
        for at, _, key, closed in self._changes:
            if at > self.time.t:
                break
            state[key] = closed
        return {key for key, closed in state.items() if closed}

    def pulls_low(self, column: MatrixColumnPin) -> bool:
        """A closed key joins `column` to a row driven low."""
        c = self.column_pins.index(column)
        for key in self.closed():
            r, kc = self.where[key]
            row = self.row_pins[r]
            if kc == c and row.function == "output" and not row.state:
                return True
        return False
