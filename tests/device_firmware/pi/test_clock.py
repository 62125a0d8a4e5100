"""The clock: codes only while it is known to be right (core), and how the Pi knows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from device_firmware.core import CodeScreen, MessageScreen, Token, TokenConfig
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.fakes import FakeClock, FakeDisplay, FakeVault
from device_firmware.pi.clock import EARLIEST_PLAUSIBLE, SystemClock, SystemClockCheck
from device_firmware.pi.config import ClockConfig
from tests.device_firmware.conftest import PIN, Rig, define_pin, register

NOW = 1_800_000_000.0


def enrolled_token(clock: FakeClock) -> Rig:
    """A token with one registered user, showing its code (the clock check is `clock`)."""
    bank = FakeServerLink(clock)
    bank.add_user("ana", "clave1", "ana@correo.com", "Ana Pérez")
    display = FakeDisplay()
    vault = FakeVault()
    token = Token(
        display=display,
        clock=clock,
        vault=vault,
        link=bank,
        config=TokenConfig(multitap_timeout=1.0),
        clock_check=clock,
    )
    token.start()
    rig = Rig(clock, display, vault, bank, token)
    register(rig, "ana", "clave1")
    define_pin(rig)
    return rig


def test_no_code_while_the_clock_is_not_set_and_the_code_once_it_is() -> None:
    clock = FakeClock(NOW)
    rig = enrolled_token(clock)
    assert isinstance(rig.screen, CodeScreen)
    clock.known = False
    rig.token.tick()
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert screen.title == "Hora no configurada"
    assert not any(c.isdigit() for c in " ".join(screen.body))  # no code anywhere
    rig.press("C")  # back to the list, as from a code
    rig.press("1")
    assert isinstance(rig.screen, MessageScreen)
    clock.known = True
    rig.token.tick()
    assert isinstance(rig.screen, CodeScreen) and rig.screen.user == "Ana Pérez"


def test_without_a_clock_check_the_clock_is_trusted() -> None:
    rig_clock = FakeClock(NOW, known=False)  # ignored: no clock_check given
    bank = FakeServerLink(rig_clock)
    bank.add_user("ana", "clave1", "ana@correo.com")
    display, vault = FakeDisplay(), FakeVault()
    token = Token(display=display, clock=rig_clock, vault=vault, link=bank)
    token.start()
    rig = Rig(rig_clock, display, vault, bank, token)
    register(rig, "ana", "clave1")
    define_pin(rig, PIN)
    assert isinstance(rig.screen, CodeScreen)


class Files:
    def __init__(self, root: Path) -> None:
        self.flag = root / "run" / "synchronized"
        self.rtc = root / "rtc0"
        self.rtc.mkdir()

    def synchronised(self) -> None:
        self.flag.parent.mkdir(exist_ok=True)
        self.flag.touch()

    def rtc_reads(self, unix_time: float) -> None:
        (self.rtc / "since_epoch").write_text(f"{int(unix_time)}\n")

    def check(self, source: str, now: float) -> SystemClockCheck:
        config = ClockConfig(source=source, sync_flag=self.flag, rtc=self.rtc)
        return SystemClockCheck(config, FakeClock(now))


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


def test_ntp_flag(files: Files) -> None:
    assert not files.check("ntp", NOW).is_set()
    files.synchronised()
    assert files.check("ntp", NOW).is_set()
    assert files.check("auto", NOW).is_set()
    assert not files.check("rtc", NOW).is_set()
    assert not files.check("ntp", EARLIEST_PLAUSIBLE - 1).is_set()  # flag but absurd time


def test_the_ntp_flag_is_looked_for_until_it_is_seen_then_not_again(files: Files) -> None:
    check = files.check("ntp", NOW)
    assert not check.is_set()
    files.synchronised()
    assert check.is_set()
    files.flag.unlink()  # only a reboot removes it: the check no longer reads the disk
    assert check.is_set()


def test_rtc_must_hold_a_plausible_time_the_system_clock_agrees_with(files: Files) -> None:
    assert not files.check("rtc", NOW).is_set()  # no RTC
    files.rtc_reads(NOW + 2)
    assert files.check("rtc", NOW).is_set()
    assert files.check("auto", NOW).is_set()
    assert not files.check("ntp", NOW).is_set()
    # fake-hwclock set the time at boot while the RTC was ignored: they disagree.
    assert not files.check("rtc", NOW - 3600).is_set()
    files.rtc_reads(946_684_800)  # a DS3231 whose battery died: 2000-01-01
    assert not files.check("rtc", 946_684_800).is_set()
    (files.rtc / "since_epoch").write_text("garbage")
    assert not files.check("auto", NOW).is_set()


def test_trust_is_always_set(files: Files) -> None:
    assert files.check("trust", 0).is_set()


def test_the_system_clock_is_the_real_time() -> None:
    before = time.time()
    assert before <= SystemClock().now() <= time.time()
