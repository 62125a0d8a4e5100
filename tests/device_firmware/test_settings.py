"""Settings: language (one catalog, switchable), clock resync with the bank, about."""

from __future__ import annotations

import pytest

from device_firmware import __version__
from device_firmware.core import (
    CodeScreen,
    DigitEntryScreen,
    Language,
    MenuScreen,
    MessageScreen,
    Tone,
    Unreachable,
    device_id,
)
from device_firmware.core.fakes import FakeVault
from device_firmware.core.records import VaultProtection
from device_firmware.core.state import About, ChooseLanguage, Settings, UserList
from device_firmware.vault.tpm_vault import TpmVault
from tests.device_firmware.conftest import Rig, define_pin, make_rig, register, saved_data
from tests.oracles import oathtool_totp


def test_settings_menu(enrolled: Rig) -> None:
    enrolled.press("5")
    assert isinstance(enrolled.place, Settings)
    assert enrolled.shown(MenuScreen).items == ("Idioma", "Sincronizar hora", "Acerca de")
    enrolled.press("C")
    assert isinstance(enrolled.place, UserList)


def test_switch_to_english_and_back(enrolled: Rig) -> None:
    enrolled.press("51")
    assert isinstance(enrolled.place, ChooseLanguage)
    assert enrolled.shown(MenuScreen).items == ("Español", "English")
    assert enrolled.shown(MenuScreen).cursor == 0  # the current language
    enrolled.press("2")
    assert isinstance(enrolled.place, Settings)
    assert enrolled.shown(MenuScreen).items == ("Language", "Synchronise clock", "About")
    assert enrolled.vault.status().language is Language.EN
    enrolled.press("C")
    assert enrolled.shown(MenuScreen).items[2:] == ("Add another user", "Delete user", "Settings")
    enrolled.press("1")
    assert isinstance(enrolled.screen, CodeScreen)
    assert enrolled.screen.countdown.startswith("Changes in ")
    enrolled.press("C51")
    assert enrolled.shown(MenuScreen).cursor == 1
    enrolled.press("1")
    assert enrolled.shown(MenuScreen).items == ("Idioma", "Sincronizar hora", "Acerca de")


def test_language_is_remembered_for_the_pin_screen(enrolled: Rig) -> None:
    enrolled.press("512")
    enrolled.restart()
    screen = enrolled.screen
    assert isinstance(screen, DigitEntryScreen)
    assert screen.title == "Enter your PIN"


def test_language_can_be_chosen_at_first_start(rig: Rig) -> None:
    assert rig.shown(MenuScreen).items[2] == "Idioma / Language"
    rig.press("3B#")
    assert rig.shown(MenuScreen).title == "Welcome"
    assert rig.shown(MenuScreen).items[:2] == (
        "Register with my bank username",
        "Activate with a code",
    )
    assert rig.shown(MenuScreen).note.startswith("Device ID: ")
    rig.press("3C")  # back without choosing keeps English
    assert rig.shown(MenuScreen).title == "Welcome"


def test_clock_resync_learns_the_new_offset(enrolled: Rig) -> None:
    stored = saved_data(enrolled)
    assert stored is not None
    assert stored.clock_offset == 0.0
    enrolled.bank.skew = -42.0  # the token's clock drifted 42 s ahead
    enrolled.press("52")
    screen = enrolled.shown(MessageScreen)
    assert screen.tone is Tone.SUCCESS
    assert screen.body == ("Hora sincronizada con el banco (diferencia: -42 s).",)
    resynced = saved_data(enrolled)
    assert resynced is not None and resynced.clock_offset == -42.0
    enrolled.press("#")
    assert enrolled.place == Settings(cursor=1)
    enrolled.press("C1")  # back to the list, then Ana's code
    seed = resynced.credentials[0].seed
    bank_time = int(enrolled.clock.now() - 42.0)
    assert isinstance(enrolled.screen, CodeScreen)
    assert enrolled.screen.code.replace(" ", "") == oathtool_totp(seed, "SHA1", 6, 60, bank_time)


def test_clock_resync_failure_is_explained(enrolled: Rig) -> None:
    enrolled.bank.fail_next(Unreachable("offline"))
    enrolled.press("52")
    assert enrolled.shown(MessageScreen).body[0].startswith("No se pudo conectar con el banco.")
    enrolled.press("#")
    assert enrolled.place == Settings(cursor=1)


def test_about_shows_device_id_and_version(enrolled: Rig) -> None:
    enrolled.press("53")
    about = enrolled.place
    assert about == About()
    screen = enrolled.shown(MessageScreen)
    assert screen.body == (
        f"ID del dispositivo: {device_id.format(enrolled.device_id)}",
        f"Versión {__version__}",
        # the fake vault, like FileVault, says FILE by default
        "Bóveda: TPM" if isinstance(enrolled.vault, TpmVault) else "Bóveda: archivo (débil)",
    )
    enrolled.press("7")  # any key goes back
    assert enrolled.place == Settings(cursor=2)


@pytest.mark.parametrize(
    ("protection", "language", "line"),
    [
        (VaultProtection.FILE, "1", "Bóveda: archivo (débil)"),
        (VaultProtection.FILE, "2", "Vault: file (weaker)"),
        (VaultProtection.TPM, "1", "Bóveda: TPM"),
        (VaultProtection.TPM, "2", "Vault: TPM"),
    ],
)
def test_about_says_what_protects_the_vault(
    protection: VaultProtection, language: str, line: str
) -> None:
    rig = make_rig(FakeVault(protection=protection))
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.press("C" + "4" + "1" + language + "3")  # users, settings, language, choice, about
    assert rig.place == About()
    body = rig.shown(MessageScreen).body
    assert body[2] == line
    assert len(body) == 3  # no development line: the bank's key came from the configuration


def test_trust_on_first_use_is_shown_on_about_and_where_a_tester_registers() -> None:
    rig = make_rig(trust_on_first_use=True)
    assert rig.shown(MenuScreen).title == "Bienvenido (desarrollo)"
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.press("C")
    assert rig.shown(MenuScreen).title == "Usuarios (desarrollo)"
    rig.press("2")  # "Agregar otro usuario"
    assert rig.shown(MenuScreen).title == "Agregar otro usuario (desarrollo)"
    rig.press("C" + "4" + "3")  # back to the users, settings, about
    assert rig.shown(MessageScreen).body[3] == "Clave del banco sin verificar (desarrollo)"
    rig.press("7" + "1" + "2")  # back to settings, language, English
    rig.press("3")
    assert rig.shown(MessageScreen).body[2:] == (
        "Vault: file (weaker)",
        "Bank key not verified (development)",
    )


def test_without_trust_on_first_use_no_title_is_marked(enrolled: Rig) -> None:
    assert enrolled.shown(MenuScreen).title == "Usuarios"


def test_a_full_disk_when_saving_the_language(fake_enrolled: Rig) -> None:
    enrolled = fake_enrolled
    assert isinstance(enrolled.vault, FakeVault)
    enrolled.vault.fail_writes = True
    enrolled.press("512")
    assert enrolled.shown(MessageScreen).tone is Tone.ERROR
    enrolled.press("#")
    assert isinstance(enrolled.place, Settings)
    assert enrolled.vault.language is Language.ES  # not saved; this session speaks English
