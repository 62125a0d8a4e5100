"""The core on the real `FileVault`: enrolment, restart, codes, damage, wipe; and `run`."""

from __future__ import annotations

from pathlib import Path

from device_firmware.core import (
    CodeScreen,
    Key,
    MenuScreen,
    MessageScreen,
    ServerLink,
    Token,
    Vault,
    run,
)
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.fakes import FakeClock, FakeDisplay, FakeKeypad, FakeVault
from device_firmware.core.ports import Clock, Display, Keypad
from device_firmware.core.state import Damaged, EnterActivationCode, EnterPin, UserList, Welcome
from device_firmware.vault import FileVault
from device_firmware.vault.file_vault import IDENTITY_FILE, STATUS_FILE, VAULT_FILE
from tests.device_firmware.conftest import PIN, activate, define_pin, make_rig, register
from tests.device_firmware.vault_samples import TINY_COST
from tests.oracles import oathtool_totp


def file_vault(directory: Path, attempts: int = 1) -> FileVault:
    return FileVault(directory, attempts_allowed=attempts, kdf_cost=TINY_COST)


def test_fakes_and_adapters_satisfy_the_ports(tmp_path: Path) -> None:
    clock = FakeClock()
    ports: tuple[Display, Clock, Keypad, Vault, Vault, ServerLink] = (
        FakeDisplay(),
        clock,
        FakeKeypad(),
        FakeVault(),
        file_vault(tmp_path),
        FakeServerLink(clock),
    )
    assert len(ports) == 6


def test_enrol_three_users_restart_and_read_codes(tmp_path: Path) -> None:
    directory = tmp_path / "token"
    rig = make_rig(file_vault(directory, attempts=3), skew=-20.0)
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.press("C2")  # list, "Agregar otro usuario"
    register(rig, "beto", "s3cret")
    rig.press("C3")
    activate(rig, "caro")
    rig.press("#")  # past "Sincronizado"

    rig.restart(file_vault(directory, attempts=3))  # power cycle: a new FileVault instance
    assert isinstance(rig.place, EnterPin)
    rig.press(PIN + "#")
    assert isinstance(rig.place, UserList)
    menu = rig.screen
    assert isinstance(menu, MenuScreen)
    assert menu.items[:3] == ("Ana Pérez", "Beto Ruiz", "Caro Díaz")
    for number, username in ((1, "ana"), (2, "beto"), (3, "caro")):
        rig.press(str(number))
        (credential,) = rig.bank.active_credentials(username)
        bank_time = int(rig.clock.now() - 20.0)
        expected = oathtool_totp(credential.seed, "SHA1", 6, 60, bank_time)
        screen = rig.screen
        assert isinstance(screen, CodeScreen)
        assert screen.code.replace(" ", "") == expected
        rig.press("C")


def test_tampered_vault_shows_damage_then_erases_to_first_start(tmp_path: Path) -> None:
    directory = tmp_path / "token"
    rig = make_rig(file_vault(directory))
    register(rig, "ana", "clave1")
    define_pin(rig)
    old_id = rig.device_id
    blob = bytearray((directory / VAULT_FILE).read_bytes())
    blob[500] ^= 0xFF
    (directory / VAULT_FILE).write_bytes(bytes(blob))
    rig.restart(file_vault(directory))
    rig.press(PIN + "#")
    assert isinstance(rig.place, Damaged)
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.title == "Memoria dañada"
    assert (directory / VAULT_FILE).exists()  # nothing is destroyed without the customer's #
    rig.press("#")
    assert isinstance(rig.place, Welcome)
    assert rig.device_id != old_id
    assert sorted(p.name for p in directory.iterdir()) == [IDENTITY_FILE, STATUS_FILE]


def test_damaged_status_file_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "token"
    rig = make_rig(file_vault(directory))
    register(rig, "ana", "clave1")
    define_pin(rig)
    (directory / STATUS_FILE).write_bytes(b"\x00garbage")
    rig.restart(file_vault(directory))
    assert isinstance(rig.place, Damaged)


def test_wrong_pin_on_the_file_vault_wipes_the_files(tmp_path: Path) -> None:
    directory = tmp_path / "token"
    rig = make_rig(file_vault(directory))
    register(rig, "ana", "clave1")
    define_pin(rig)
    identity = (directory / IDENTITY_FILE).read_bytes()
    rig.restart(file_vault(directory))
    rig.press("0000#")
    assert not (directory / VAULT_FILE).exists()
    assert (directory / IDENTITY_FILE).read_bytes() != identity
    rig.press("#")
    assert isinstance(rig.place, Welcome)


def test_run_drives_the_token_from_a_keypad() -> None:
    clock = FakeClock()
    display = FakeDisplay()
    token = Token(display=display, clock=clock, vault=FakeVault(), link=FakeServerLink(clock))
    keypad = FakeKeypad([Key.DIGIT_2, Key.HASH])  # "Activar", then on to the code entry
    rounds = iter(range(4))
    run(token, keypad, keep_going=lambda: next(rounds, None) is not None)
    assert not keypad.pending
    assert isinstance(token.state.place, EnterActivationCode)
    assert display.current == token.screen
