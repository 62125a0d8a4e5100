"""Time as an explicit input: services take a `Clock`, tests pass one they control."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Returns the current Unix time in seconds."""

    def __call__(self) -> float: ...


def system_clock() -> float:
    """The machine's wall clock."""
    return time.time()
