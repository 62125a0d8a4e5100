"""The core on the real `TpmVault` (a software TPM): enrolment, restart, codes, the About
line, the bank's wipe rule, and the TPM's own lock-out as the customer sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_firmware.core import CodeScreen, MenuScreen, MessageScreen
from device_firmware.core.records import VaultProtection
from device_firmware.core.state import EnterPin, Notice, UserList, Welcome
from device_firmware.emulator.software_tpm import SoftwareTpm
from device_firmware.vault.tpm import Tpm, TpmAuthRefused
from tests.device_firmware.conftest import PIN, activate, define_pin, make_rig, register
from tests.device_firmware.tpm.conftest import TEST_LOCKOUT, MakeTpmVault
from tests.oracles import oathtool_totp


def test_enrol_restart_and_read_codes_on_the_tpm(make_tpm_vault: MakeTpmVault) -> None:
    rig = make_rig(make_tpm_vault(attempts_allowed=3), skew=-20.0)
    assert rig.vault.protection is VaultProtection.TPM
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.press("C2")
    activate(rig, "caro")
    rig.press("#")

    rig.restart(make_tpm_vault(attempts_allowed=3))  # power cycle: a new vault instance
    assert isinstance(rig.place, EnterPin)
    rig.press(PIN + "#")
    assert isinstance(rig.place, UserList)
    menu = rig.screen
    assert isinstance(menu, MenuScreen)
    assert menu.items[:2] == ("Ana Pérez", "Caro Díaz")
    for number, username in ((1, "ana"), (2, "caro")):
        rig.press(str(number))
        (credential,) = rig.bank.active_credentials(username)
        expected = oathtool_totp(credential.seed, "SHA1", 6, 60, int(rig.clock.now() - 20.0))
        screen = rig.screen
        assert isinstance(screen, CodeScreen)
        assert screen.code.replace(" ", "") == expected
        rig.press("C")


def test_about_says_the_tpm_guards_the_vault(make_tpm_vault: MakeTpmVault) -> None:
    rig = make_rig(make_tpm_vault())
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.press("C")
    rig.press(str(len(rig.shown(MenuScreen).items)))  # Settings, the last item
    rig.press("3")  # About
    assert "Bóveda: TPM" in rig.shown(MessageScreen).body


def test_a_wrong_pin_wipes_the_tpm_vault(make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm) -> None:
    rig = make_rig(make_tpm_vault())
    register(rig, "ana", "clave1")
    define_pin(rig)
    old_id = rig.device_id
    rig.restart(make_tpm_vault())
    rig.press("0000#")
    assert Tpm(swtpm.tcti).sealed_key_name() is None
    rig.press("#")
    assert isinstance(rig.place, Welcome)
    assert rig.device_id != old_id


def test_the_tpms_lock_out_is_shown_and_costs_the_customer_no_attempt(
    make_tpm_vault: MakeTpmVault, swtpm: SoftwareTpm, tmp_path: Path
) -> None:
    rig = make_rig(make_tpm_vault(attempts_allowed=2))
    register(rig, "ana", "clave1")
    define_pin(rig)
    thief = Tpm(swtpm.tcti)  # while the token lay unattended, code of the thief's own
    for guess in ("1111", "2222", "3333", "4444")[: TEST_LOCKOUT.max_tries]:
        with pytest.raises(TpmAuthRefused):
            thief.unseal(guess)

    rig.restart(make_tpm_vault(attempts_allowed=2))
    rig.press(PIN + "#")
    assert isinstance(rig.place, Notice)
    screen = rig.shown(MessageScreen)
    assert "no acepta otro en 1 h encendido" in " ".join(screen.body)
    rig.press("#")
    assert isinstance(rig.place, EnterPin)
    assert rig.vault.status().attempts_used == 0
    assert rig.vault.status().exists  # nothing wiped: the customer's PIN was never checked
