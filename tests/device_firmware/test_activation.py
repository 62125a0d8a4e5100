"""Portal activation (INVEX Clave): device ID → activation code → synchronised → PIN."""

from __future__ import annotations

from device_firmware.core import (
    CodeScreen,
    DigitEntryScreen,
    MessageScreen,
    Tone,
    Unreachable,
    device_id,
)
from device_firmware.core.state import (
    DefinePin,
    EnterActivationCode,
    ShowCode,
    ShowDeviceId,
    Synchronised,
    Welcome,
)
from tests.device_firmware.conftest import Rig, activate, define_pin, saved_data

ACTIVATION_ERROR = (
    "El número ID de dispositivo no es correcto o bien el código de activación no es "
    "correcto. Intente el proceso nuevamente."
)


def test_activation_shows_the_device_id_to_type_in_the_portal(rig: Rig) -> None:
    rig.press("2")
    assert isinstance(rig.place, ShowDeviceId)
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert device_id.format(rig.device_id) in screen.body
    rig.press("#")
    assert isinstance(rig.place, EnterActivationCode)
    assert isinstance(rig.screen, DigitEntryScreen)
    assert rig.screen.title == "Introduzca el código de activación"


def test_activation_synchronises_then_asks_for_the_pin(rig: Rig) -> None:
    activate(rig, "caro")
    assert isinstance(rig.place, Synchronised)
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert (screen.title, screen.tone) == ("Sincronizado", Tone.SUCCESS)
    rig.press("#")
    assert isinstance(rig.place, DefinePin)
    define_pin(rig)
    assert isinstance(rig.place, ShowCode)
    assert isinstance(rig.screen, CodeScreen)
    assert rig.screen.user == "Caro Díaz"
    stored = saved_data(rig)
    assert stored is not None
    assert stored.credentials[0].username == "caro"


def test_wrong_activation_code_says_id_or_code_is_wrong_and_starts_over(rig: Rig) -> None:
    rig.press("2")
    rig.bank.portal_activation_code("caro", rig.device_id)
    rig.press("#12345678#")
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert screen.body == (ACTIVATION_ERROR,)
    rig.press("#")
    assert isinstance(rig.place, ShowDeviceId)  # "try the process again"
    code = rig.bank.portal_activation_code("caro", rig.device_id)
    rig.press("#" + code + "#")
    assert isinstance(rig.place, Synchronised)


def test_device_id_typed_wrong_in_the_portal_gives_the_same_error(rig: Rig) -> None:
    rig.press("2")
    typed = "0000" + rig.device_id[4:]
    code = rig.bank.portal_activation_code("caro", typed)
    rig.press("#" + code + "#")
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body == (ACTIVATION_ERROR,)


def test_english_wording_of_the_activation_error(rig: Rig) -> None:
    rig.press("3")  # "Idioma / Language"
    rig.press("2")  # English
    assert isinstance(rig.place, Welcome)
    rig.press("2#1234#")
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body == ("The device ID or the activation code is not correct. Try again.",)


def test_unreachable_bank_returns_to_the_code_entry(rig: Rig) -> None:
    rig.press("2")
    code = rig.bank.portal_activation_code("caro", rig.device_id)
    rig.bank.fail_next(Unreachable("no route"))
    rig.press("#" + code + "#")
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body[0].startswith("No se pudo conectar con el banco.")
    rig.press("#")
    assert isinstance(rig.place, EnterActivationCode)
    rig.press(code + "#")
    assert isinstance(rig.place, Synchronised)


def test_short_activation_code_is_not_sent_and_back_returns(rig: Rig) -> None:
    rig.press("2#12#")
    assert isinstance(rig.place, EnterActivationCode)
    assert rig.bank.calls == []
    rig.press("C")
    assert isinstance(rig.place, ShowDeviceId)
    rig.press("C")
    assert isinstance(rig.place, Welcome)
