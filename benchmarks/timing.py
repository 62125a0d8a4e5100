"""Measuring a rate on a shared, noisy machine: repeated timed rounds, the median kept."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """Operations per second: the median of several rounds, and the spread."""

    name: str
    per_second: float
    low: float
    high: float

    def line(self, baseline: Rate | None = None) -> str:
        ratio = f"  ratio {self.per_second / baseline.per_second:6.3f}" if baseline else ""
        return (
            f"{self.name:<52} {self.per_second:>11,.0f}/s "
            f"(rounds {self.low:,.0f}..{self.high:,.0f}){ratio}"
        )


def measure(
    name: str, operation: Callable[[int], object], *, seconds: float = 1.0, rounds: int = 5
) -> Rate:
    """Call `operation(i)` repeatedly for `seconds` per round; return the median rate."""
    rates = []
    counter = 0
    for _ in range(rounds):
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(50):
                operation(counter)
                counter += 1
            done += 50
            now = time.perf_counter()
            if now >= deadline:
                break
        rates.append(done / (now - start))
    return Rate(name, statistics.median(rates), min(rates), max(rates))


def measure_each(
    name: str, operation: Callable[[], object], seconds: float, rounds: int = 3
) -> Rate:
    """Like `measure`, one call at a time (for operations of a tenth of a second or more);
    `seconds=0` times single calls, one per round."""
    rates = []
    for _ in range(rounds):
        done = 0
        start = time.perf_counter()
        while True:
            operation()
            done += 1
            now = time.perf_counter()
            if now - start >= seconds:
                break
        rates.append(done / (now - start))
    return Rate(name, statistics.median(rates), min(rates), max(rates))
