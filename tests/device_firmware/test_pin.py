"""The PIN at every opening: right, wrong, the warning before the last try, the wipe."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from device_firmware.core import CodeScreen, DigitEntryScreen, MenuScreen, MessageScreen, Tone
from device_firmware.core.fakes import FakeVault
from device_firmware.core.state import (
    Damaged,
    DefinePin,
    EnterPin,
    Notice,
    ShowCode,
    UserList,
    Welcome,
)
from device_firmware.vault import FileVault
from device_firmware.vault.tpm_vault import TpmVault
from tests.device_firmware.conftest import PIN, Rig, define_pin, register, saved_data

WRONG = "0000"
LAST_ATTEMPT = "Último intento: si el PIN es incorrecto, el token se desconfigurará."
ERASED = (
    "PIN incorrecto. Por su seguridad, el token se desconfiguró y deberá registrarse nuevamente."
)


class PowerCut(BaseException):
    """The power goes: nothing in the token catches this."""


def registered(factory: Callable[..., Rig], attempts: int) -> Rig:
    rig = factory(attempts_allowed=attempts)
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.restart()
    return rig


def pin_screen(rig: Rig) -> DigitEntryScreen:
    assert isinstance(rig.place, EnterPin)
    screen = rig.screen
    assert isinstance(screen, DigitEntryScreen)
    return screen


def fake(rig: Rig) -> FakeVault:
    assert isinstance(rig.vault, FakeVault)
    return rig.vault


def test_pin_is_asked_at_every_opening(rig_factory: Callable[..., Rig]) -> None:
    rig = registered(rig_factory, 1)
    screen = pin_screen(rig)
    assert (screen.title, screen.shown, screen.length, screen.note) == ("Ingrese su PIN", "", 4, "")
    rig.press(PIN[:2])
    assert pin_screen(rig).shown == "••"
    rig.press(PIN[2:] + "#")
    assert isinstance(rig.place, ShowCode)  # one user: straight to the code
    assert isinstance(rig.screen, CodeScreen)


def test_two_users_open_on_the_list(enrolled: Rig) -> None:
    enrolled.restart()
    enrolled.press(PIN + "#")
    assert isinstance(enrolled.place, UserList)
    screen = enrolled.screen
    assert isinstance(screen, MenuScreen)
    assert screen.items[:2] == ("Ana Pérez", "Beto Ruiz")


def test_one_wrong_pin_wipes_the_token_by_default(rig_factory: Callable[..., Rig]) -> None:
    rig = registered(rig_factory, 1)
    old_id = rig.device_id
    assert pin_screen(rig).note == ""  # one attempt allowed: nothing to warn about
    rig.press(WRONG + "#")
    assert isinstance(rig.place, Notice)
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert (screen.title, screen.body, screen.tone) == ("Token borrado", (ERASED,), Tone.ERROR)
    assert not rig.vault.status().exists
    assert saved_data(rig) is None
    rig.press("#")
    assert isinstance(rig.place, Welcome)
    assert rig.device_id != old_id  # a fresh identity
    assert isinstance(rig.screen, MenuScreen)
    assert rig.screen.note.endswith(rig.device_id[-4:])
    rig.restart()
    assert isinstance(rig.place, Welcome)  # first start again, no PIN asked


def test_three_attempts_warn_before_the_last_and_wipe_after_it(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = registered(rig_factory, 3)
    assert pin_screen(rig).note == ""
    rig.press(WRONG + "#")
    assert pin_screen(rig).note == "PIN incorrecto. Intentos restantes: 2."
    rig.press(WRONG + "#")
    note = pin_screen(rig).note
    assert note == "PIN incorrecto. Intentos restantes: 1. " + LAST_ATTEMPT
    assert rig.vault.status().attempts_used == 2
    rig.press(WRONG + "#")
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body == (ERASED,)
    assert not rig.vault.status().exists


def test_last_attempt_warning_is_shown_at_opening_before_typing(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = registered(rig_factory, 3)
    rig.press(WRONG + "#" + WRONG + "#")
    rig.restart()
    assert pin_screen(rig).note == LAST_ATTEMPT
    assert rig.display.frames[-1] == rig.screen  # shown before any digit is typed


def test_right_pin_resets_the_count(rig_factory: Callable[..., Rig]) -> None:
    rig = registered(rig_factory, 3)
    rig.press(WRONG + "#" + WRONG + "#" + PIN + "#")
    assert isinstance(rig.place, ShowCode)
    assert rig.vault.status().attempts_used == 0
    rig.restart()
    assert pin_screen(rig).note == ""


def test_power_cut_after_counting_still_counts(fake_rig_factory: Callable[..., Rig]) -> None:
    rig_factory = fake_rig_factory
    rig = registered(rig_factory, 3)

    def cut() -> None:
        raise PowerCut

    fake(rig).on_counted = cut
    with pytest.raises(PowerCut):
        rig.press(PIN + "#")  # even the right PIN: the power went before the check
    fake(rig).on_counted = None
    rig.restart()
    assert fake(rig).status().attempts_remaining == 2
    rig.press(PIN + "#")
    assert isinstance(rig.place, ShowCode)


def test_power_cut_on_the_only_attempt_wipes_at_next_start(
    fake_rig_factory: Callable[..., Rig],
) -> None:
    rig_factory = fake_rig_factory
    rig = registered(rig_factory, 1)

    def cut() -> None:
        raise PowerCut

    fake(rig).on_counted = cut
    with pytest.raises(PowerCut):
        rig.press(WRONG + "#")
    fake(rig).on_counted = None
    rig.restart()
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body == (ERASED,)  # no second try: the token wiped itself at start
    assert fake(rig).wipes == 1
    rig.press("#")
    assert isinstance(rig.place, Welcome)


def test_c_on_the_user_list_locks_the_token(enrolled: Rig) -> None:
    assert isinstance(enrolled.place, UserList)
    enrolled.press("C")
    assert isinstance(enrolled.place, EnterPin)
    assert enrolled.token.state.session.data is None
    vault = enrolled.vault
    assert isinstance(vault, FakeVault | FileVault | TpmVault)
    assert not vault.unlocked
    enrolled.press(PIN + "#")
    assert isinstance(enrolled.place, UserList)


def test_damaged_vault_shows_a_screen_and_can_be_erased(
    fake_rig_factory: Callable[..., Rig],
) -> None:
    rig_factory = fake_rig_factory
    rig = registered(rig_factory, 1)
    fake(rig).unreadable = True
    rig.restart()
    assert isinstance(rig.place, Damaged)
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert screen.title == "Memoria dañada"
    rig.press("1")  # only # erases
    assert isinstance(rig.place, Damaged)
    rig.press("#")
    assert isinstance(rig.place, Welcome)
    assert fake(rig).wipes == 1


def test_vault_damaged_when_unlocking_shows_the_same_screen(
    fake_rig_factory: Callable[..., Rig],
) -> None:
    rig_factory = fake_rig_factory
    rig = registered(rig_factory, 3)
    fake(rig).unreadable = True
    rig.press(PIN + "#")
    assert isinstance(rig.place, Damaged)


def test_a_full_disk_when_creating_the_vault_asks_for_the_pin_again(fake_rig: Rig) -> None:
    rig = fake_rig
    register(rig, "ana", "clave1")
    fake(rig).fail_writes = True
    define_pin(rig)
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body == ("No se pudo guardar en la memoria del token. Intente de nuevo.",)
    rig.press("#")
    assert isinstance(rig.place, DefinePin)
    fake(rig).fail_writes = False
    define_pin(rig)
    assert isinstance(rig.place, ShowCode)


def test_a_full_disk_while_counting_refuses_to_check_the_pin(
    fake_rig_factory: Callable[..., Rig],
) -> None:
    rig_factory = fake_rig_factory
    rig = registered(rig_factory, 3)
    fake(rig).fail_writes = True
    rig.press(PIN + "#")
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.tone is Tone.ERROR
    assert fake(rig).attempts_used == 0
    assert not fake(rig).unlocked  # the PIN was not checked without counting first
    rig.press("#")
    assert isinstance(rig.place, EnterPin)
