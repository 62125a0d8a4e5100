"""The matrix keypad on gpiozero's MockFactory, with a simulated membrane matrix.

Each test gets a fresh MockFactory (conftest); time is fake, moved by the scanner's own
`sleep`, so a second of scanning takes microseconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from device_firmware.core.keys import Key
from device_firmware.pi.config import HOLD_PRESETS, LAYOUTS, KeypadConfig
from device_firmware.pi.debounce import KeyDebouncer
from device_firmware.pi.errors import KeypadUnavailable
from device_firmware.pi.keypad import MatrixKeypad
from tests.device_firmware.pi.simulated_matrix import FakeTime, SimulatedMatrix

ROWS = (5, 6, 13, 19)
COLUMNS_4X4 = (12, 16, 20, 21)
COLUMNS_4X3 = (12, 16, 20)
DEBOUNCE = 0.03


def make(
    factory: MockFactory, time: FakeTime, layout: str = "4x4", debounce: float = DEBOUNCE
) -> tuple[MatrixKeypad, SimulatedMatrix]:
    columns = COLUMNS_4X4 if layout == "4x4" else COLUMNS_4X3
    hold = {Key.parse(k): Key.parse(v) for k, v in HOLD_PRESETS[layout].items()}
    config = KeypadConfig(
        rows=ROWS, columns=columns, keys=LAYOUTS[layout], hold=hold, debounce=debounce
    )
    matrix = SimulatedMatrix(factory, LAYOUTS[layout], ROWS, columns, time)
    keypad = MatrixKeypad(config, pin_factory=factory, monotonic=time.monotonic, sleep=time.sleep)
    return keypad, matrix


def keys_within(keypad: MatrixKeypad, time: FakeTime, seconds: float) -> list[Key]:
    """Every key event until the fake time has moved on by `seconds`."""
    end = time.t + seconds
    events = []
    while time.t < end:
        key = keypad.read_key(end - time.t)
        if key is not None:
            events.append(key)
    return events


@pytest.fixture
def keypad_4x4(
    pin_factory: MockFactory, fake_time: FakeTime
) -> Iterator[tuple[MatrixKeypad, SimulatedMatrix]]:
    keypad, matrix = make(pin_factory, fake_time)
    yield keypad, matrix
    keypad.close()


@pytest.mark.parametrize("char", "".join(LAYOUTS["4x4"]))
def test_every_key_of_the_4x4_keypad(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime, char: str
) -> None:
    keypad, matrix = keypad_4x4
    matrix.press(Key.parse(char), at=0.05)
    assert keys_within(keypad, fake_time, 0.5) == [Key.parse(char)]


@pytest.mark.parametrize("char", "".join(LAYOUTS["4x3"]))
def test_every_key_of_the_4x3_keypad(
    pin_factory: MockFactory, fake_time: FakeTime, char: str
) -> None:
    keypad, matrix = make(pin_factory, fake_time, "4x3")
    matrix.press(Key.parse(char), at=0.05)
    # Keys standing in for A-D when held give their own event on release.
    assert keys_within(keypad, fake_time, 0.5) == [Key.parse(char)]
    keypad.close()


@pytest.mark.parametrize(("held", "means"), sorted(HOLD_PRESETS["4x3"].items()))
def test_holding_a_key_of_the_4x3_keypad_gives_the_key_it_lacks(
    pin_factory: MockFactory, fake_time: FakeTime, held: str, means: str
) -> None:
    keypad, matrix = make(pin_factory, fake_time, "4x3")
    matrix.press(Key.parse(held), at=0.05, duration=1.5)
    assert keys_within(keypad, fake_time, 2.0) == [Key.parse(means)]  # once, nothing on release
    keypad.close()


def test_the_row_and_column_of_each_key_are_the_wired_ones(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime
) -> None:
    keypad, matrix = keypad_4x4
    assert keypad.scan() == frozenset()
    matrix.set(Key.DIGIT_6, True, at=0.0)  # row 2, column 3
    assert keypad.scan() == {Key.DIGIT_6}
    # Idle, every row is driven low; after a scan too.
    assert all(pin.function == "output" and not pin.state for pin in matrix.row_pins)


@pytest.mark.parametrize(("debounce", "events"), [(DEBOUNCE, 1), (0.0, 4)])
def test_bounce_within_the_debounce_time_gives_one_event(
    pin_factory: MockFactory, fake_time: FakeTime, debounce: float, events: int
) -> None:
    keypad, matrix = make(pin_factory, fake_time, debounce=debounce)
    # The contact chatters for 40 ms, never steady for 30 ms, then stays closed; the
    # release chatters too. Scans (every 10 ms) see the chatter: without debouncing (the
    # second case, to show the test would catch it) it reads as four presses.
    matrix.bounce(Key.DIGIT_5, at=0.045, flips=[0.01, 0.02, 0.03, 0.04], duration=0.3)
    matrix.set(Key.DIGIT_5, True, at=0.355)
    matrix.set(Key.DIGIT_5, False, at=0.365)
    assert keys_within(keypad, fake_time, 1.0) == [Key.DIGIT_5] * events
    keypad.close()


def test_a_glitch_shorter_than_the_debounce_time_is_no_press(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime
) -> None:
    keypad, matrix = keypad_4x4
    matrix.press(Key.DIGIT_8, at=0.05, duration=DEBOUNCE / 2)
    assert keys_within(keypad, fake_time, 0.5) == []


def test_holding_a_key_gives_one_event_and_pressing_again_another(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime
) -> None:
    keypad, matrix = keypad_4x4
    release = matrix.press(Key.HASH, at=0.05, duration=2.0)
    matrix.press(Key.HASH, at=release + 0.1)
    assert keys_within(keypad, fake_time, 3.0) == [Key.HASH, Key.HASH]


def test_two_keys_held_together_give_one_event_each(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime
) -> None:
    keypad, matrix = keypad_4x4
    matrix.press(Key.DIGIT_1, at=0.05, duration=1.0)
    matrix.press(Key.DIGIT_4, at=0.10, duration=0.8)  # the same column, another row
    assert keypad.read_key(0.2) == Key.DIGIT_1
    fake_time.t = 0.5
    assert keypad.scan() == {Key.DIGIT_1, Key.DIGIT_4}  # both read while both are held
    assert keys_within(keypad, fake_time, 1.5) == [Key.DIGIT_4]


def test_two_keys_pressed_at_once_both_count_in_layout_order(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime
) -> None:
    keypad, matrix = keypad_4x4
    matrix.press(Key.B, at=0.05, duration=0.2)
    matrix.press(Key.DIGIT_7, at=0.05, duration=0.2)
    assert keys_within(keypad, fake_time, 0.5) == [Key.DIGIT_7, Key.B]


def test_three_keys_that_would_show_a_ghost_are_ignored(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime
) -> None:
    keypad, matrix = keypad_4x4
    # 1, 2 and 4 held: on a real matrix 5 would read closed too. No key is made up.
    for key in (Key.DIGIT_1, Key.DIGIT_2, Key.DIGIT_4):
        matrix.press(key, at=0.05, duration=0.3)
    assert keys_within(keypad, fake_time, 0.6) == []


def test_no_key_returns_none_after_the_timeout_without_busy_waiting(
    keypad_4x4: tuple[MatrixKeypad, SimulatedMatrix], fake_time: FakeTime
) -> None:
    keypad, _ = keypad_4x4
    assert keypad.read_key(0.25) is None
    assert fake_time.t == pytest.approx(0.25)
    assert fake_time.sleeps == pytest.approx(0.25 / 0.01, abs=1)  # one scan per interval


def test_close_releases_the_pins(pin_factory: MockFactory, fake_time: FakeTime) -> None:
    keypad, matrix = make(pin_factory, fake_time)
    keypad.close()
    assert all(pin.function == "input" for pin in matrix.row_pins)
    again, _ = make(pin_factory, fake_time)  # the pins can be claimed again
    again.close()
    keypad.close()  # idempotent


def test_a_pin_in_use_is_refused_and_nothing_stays_reserved(
    pin_factory: MockFactory, fake_time: FakeTime
) -> None:
    from gpiozero import LED  # type: ignore[import-untyped]

    led = LED(19, pin_factory=pin_factory)  # the last row pin
    config = KeypadConfig(rows=ROWS, columns=COLUMNS_4X4)
    with pytest.raises(KeypadUnavailable, match="cannot be used"):
        MatrixKeypad(config, pin_factory=pin_factory)
    led.close()
    MatrixKeypad(config, pin_factory=pin_factory).close()  # the other pins were released


def test_debouncer_orders_and_forgets() -> None:
    debouncer = KeyDebouncer(debounce=0.25)  # binary fractions: no rounding in the test
    closed = frozenset({Key.DIGIT_3})
    assert debouncer.update(closed, 0.0) == []
    assert debouncer.update(closed, 0.25) == [Key.DIGIT_3]
    assert debouncer.update(closed, 5.0) == []  # held: no repeat
    assert debouncer.update(frozenset(), 5.25) == []
    assert debouncer.update(frozenset(), 5.5) == []  # released
    assert debouncer.update(closed, 5.75) == []
    assert debouncer.update(closed, 6.0) == [Key.DIGIT_3]
