"""The Pi's clock, and how the token knows it is right before it shows a code.

A Pi has no battery-backed clock: after a power cut it boots with the time it saved at
shutdown (Raspberry Pi OS's fake-hwclock) until NTP corrects it, so a code computed then is
wrong by however long the token was off. `SystemClockCheck` (the core's `ClockCheck` port)
says the clock is set when one of these holds, as `[clock] source` allows:

- **ntp**: systemd-timesyncd has synchronised since boot; it creates
  ``/run/systemd/timesync/synchronized`` then (the file lives in /run, so it is gone after
  every reboot until the next synchronisation);
- **rtc**: a real-time clock (a DS3231 on I2C, ``dtoverlay=i2c-rtc,ds3231``) is present,
  holds a plausible time, and the system clock agrees with it within `RTC_TOLERANCE` seconds
  (so the RTC was read at boot, not left aside while fake-hwclock set the time);
- **auto** (the default): either of the two;
- **trust**: always (demos on a bench; never on a customer's token).

While none holds, the core shows "clock not set" in place of the code.
"""

from __future__ import annotations

import time
from pathlib import Path

from device_firmware.core.ports import Clock
from device_firmware.pi.config import ClockConfig

EARLIEST_PLAUSIBLE = 1_767_225_600  # 2026-01-01 00:00:00 UTC: older than this firmware
RTC_TOLERANCE = 5.0


class SystemClock:
    """The `Clock` port on the system clock."""

    def now(self) -> float:
        """The current Unix time."""
        return time.time()


class SystemClockCheck:
    """The `ClockCheck` port: NTP synchronised, or a set RTC, as `config.source` allows.

    Args:
        config: the source to trust and where to look (the timesyncd flag, the RTC's sysfs
            directory).
        clock: the clock being checked.
    """

    def __init__(self, config: ClockConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._synchronised = False  # the flag, once seen, stays until the next boot

    def is_set(self) -> bool:
        """True when the configured source vouches for the clock."""
        source = self._config.source
        if source == "trust":
            return True
        if source in ("auto", "ntp") and self.ntp_synchronised():
            return True
        return source in ("auto", "rtc") and self.rtc_agrees()

    def ntp_synchronised(self) -> bool:
        """systemd-timesyncd's flag file exists (it synchronised since boot). The token
        asks on every tick while a code is shown: after the flag is seen once, the file is
        not looked at again."""
        self._synchronised = self._synchronised or self._config.sync_flag.exists()
        return self._synchronised and self._plausible(self._clock.now())

    def rtc_agrees(self) -> bool:
        """An RTC holds a plausible time and the system clock agrees with it."""
        rtc_time = _read_number(self._config.rtc / "since_epoch")
        if rtc_time is None or not self._plausible(rtc_time):
            return False
        return abs(self._clock.now() - rtc_time) <= RTC_TOLERANCE

    @staticmethod
    def _plausible(unix_time: float) -> bool:
        return unix_time >= EARLIEST_PLAUSIBLE


def _read_number(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None
