"""The PIN's KDF costs: Argon2id's bounds, and its calibration against the machine's clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import pytest

from device_firmware.core import InvalidRecord
from device_firmware.vault import Argon2Cost
from device_firmware.vault.kdf import MAX_ITERATIONS, MAX_MEMORY_KIB, MAX_WORK_KIB


def scripted(*durations: float) -> Iterator[float]:
    """A timer whose successive start/stop readings make each timed call last `durations`."""
    now = 0.0
    for duration in durations:
        yield now
        now += duration
        yield now


def timer_of(*durations: float) -> Callable[[], float]:
    readings = scripted(*durations)
    return lambda: next(readings)


@pytest.mark.parametrize(
    ("one_pass", "two_passes", "target", "expected"),
    [
        (0.3, 0.5, 1.0, 5),  # 0.1 s fixed + 0.2 s a pass: 5 passes reach 1 s
        (0.3, 0.5, 0.05, 1),  # a pass already takes longer than the target: never below 1
        (0.1, 0.1, 1.0, 19),  # noise hid the per-pass time: half a one-pass derivation
        (0.2, 0.1, 1.0, 9),  # noise the other way round: the same
        (0.3, 0.31, 1.0, 6),  # a blurred difference cannot make a pass look cheap
        (0.1, 0.5, 1.0, 10),  # nor expensive: at most the whole one-pass time
        (0.001, 0.002, 60.0, MAX_ITERATIONS),  # a long target is clamped to the bounds
    ],
)
def test_calibration_picks_the_passes_that_reach_the_target(
    one_pass: float, two_passes: float, target: float, expected: int
) -> None:
    timer = timer_of(one_pass, two_passes)
    cost = Argon2Cost.calibrate(target, 8, timer=timer)
    assert cost == Argon2Cost(memory_kib=8, iterations=expected, lanes=1)


def test_calibration_keeps_the_work_within_bounds_at_large_memory() -> None:
    timer = timer_of(0.001, 0.002)
    cost = Argon2Cost.calibrate(60.0, MAX_MEMORY_KIB // 64, timer=timer)
    assert cost.memory_kib * cost.iterations <= MAX_WORK_KIB
    assert cost.iterations == min(MAX_ITERATIONS, MAX_WORK_KIB // cost.memory_kib)


@pytest.mark.parametrize("target", [0.0, -1.0, math.nan, math.inf])
def test_calibration_refuses_a_target_that_is_not_a_duration(target: float) -> None:
    with pytest.raises(InvalidRecord):
        Argon2Cost.calibrate(target, 8)


@pytest.mark.parametrize("memory_kib", [7, MAX_MEMORY_KIB + 1])
def test_calibration_refuses_memory_out_of_bounds(memory_kib: int) -> None:
    with pytest.raises(InvalidRecord):
        Argon2Cost.calibrate(0.01, memory_kib)


def test_calibration_on_this_machine_is_in_bounds_and_monotonic() -> None:
    """Real timings: loose, structural assertions only (the machine may be busy)."""
    memory = 4 * 1024  # a pass takes a millisecond or two here
    short = Argon2Cost.calibrate(0.01, memory)
    long = Argon2Cost.calibrate(0.16, memory)
    for cost in (short, long):
        assert cost.memory_kib == memory and cost.lanes == 1
        assert 1 <= cost.iterations <= MAX_ITERATIONS
    assert long.iterations >= short.iterations  # 16 times the target: never fewer passes
    start = time.perf_counter()
    long.derive("2580", bytes(16))
    assert time.perf_counter() - start >= 0.16 / 4  # at least some fraction of the target


@pytest.mark.parametrize(
    "fields",
    [
        {"memory_kib": 7},
        {"memory_kib": 31, "lanes": 4},
        {"memory_kib": MAX_MEMORY_KIB + 1},
        {"iterations": 0},
        {"iterations": MAX_ITERATIONS + 1},
        {"lanes": 0},
        {"lanes": 17},
        {"memory_kib": MAX_MEMORY_KIB, "iterations": 17},
    ],
)
def test_argon2_cost_bounds(fields: dict[str, int]) -> None:
    with pytest.raises(InvalidRecord):
        Argon2Cost(**fields)


def test_argon2_cost_round_trips_through_its_header_fields() -> None:
    cost = Argon2Cost(memory_kib=64 * 1024, iterations=4, lanes=2)
    assert cost.pack() == bytes.fromhex("000100000000000402")
    assert Argon2Cost.unpack(cost.pack()) == cost
    assert Argon2Cost() == Argon2Cost(memory_kib=64 * 1024, iterations=3, lanes=1)  # RFC 9106


def test_argon2id_derivation_matches_rfc_9106_parameters() -> None:
    """The KDF is Argon2id proper: the same inputs through argon2-cffi give the same key."""
    from argon2.low_level import Type, hash_secret_raw

    cost = Argon2Cost(memory_kib=64, iterations=2, lanes=1)
    salt = bytes(range(16))
    expected = hash_secret_raw(b"2580", salt, 2, 64, 1, 32, Type.ID)
    assert cost.derive("2580", salt) == expected
