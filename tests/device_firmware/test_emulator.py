"""The emulator: screen models as text frames, and a whole session typed on the keyboard."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from device_firmware.core import (
    CodeScreen,
    DigitEntryScreen,
    Key,
    MenuScreen,
    MessageScreen,
    Screen,
    TextEntryScreen,
    Tone,
    Vault,
)
from device_firmware.core.fakes import FakeClock, FakeVault
from device_firmware.core.records import TokenData, VaultProtection
from device_firmware.emulator.session import EmulatorSession
from device_firmware.emulator.terminal import key_for
from device_firmware.emulator.text_frame import WIDTH, TextDisplay, frame
from device_firmware.vault import FileVault
from tests.device_firmware.conftest import MULTITAP_TIMEOUT, about_screens, taps
from tests.device_firmware.vault_samples import TINY_COST

SCREENS: list[Screen] = [
    MenuScreen("Usuarios", ("Ana Pérez", "Agregar otro usuario"), 1, "", "A/B mover"),
    MessageScreen("Error", ("Un texto largo " * 6,), Tone.ERROR, "Presione una tecla"),
    TextEntryScreen("Usuario", "ana", 1, "abc", False, "* borrar"),
    DigitEntryScreen("Ingrese su PIN", "••", 4, "", "* borrar"),
    DigitEntryScreen("Código", "1234", None, "Enviado a a***@correo.com", ""),
    CodeScreen("Su código", "Ana Pérez", "123 456", 15, 60, "Cambia en 15 s", "C volver"),
]


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: type(s).__name__)
def test_every_screen_fits_its_frame(screen: Screen) -> None:
    lines = frame(screen)
    assert all(len(line) == WIDTH for line in lines)
    assert lines[0] == lines[-1] == "+" + "-" * (WIDTH - 2) + "+"


def test_frame_details() -> None:
    menu = "\n".join(frame(SCREENS[0]))
    assert "|   1 Ana Pérez" in menu and "| > 2 Agregar otro usuario" in menu
    assert "a|na" in "\n".join(frame(SCREENS[2]))
    assert "• • _ _" in "\n".join(frame(SCREENS[3]))
    code = "\n".join(frame(SCREENS[5]))
    assert "123 456" in code and "[#####...............] 15 s" in code
    assert "Cambia en 15 s" in code
    assert "[!] Error" in "\n".join(frame(SCREENS[1]))


def test_keyboard_aliases() -> None:
    assert key_for("\r") is Key.HASH
    assert key_for("\x7f") is Key.STAR
    assert key_for("\x1b") is Key.C
    assert key_for("d") is Key.D
    assert key_for("x") is None


def test_a_session_typed_on_the_keyboard(tmp_path: Path) -> None:
    out = io.StringIO()
    clock = FakeClock()
    session = EmulatorSession(
        display=TextDisplay(out),
        clock=clock,
        vault=FileVault(tmp_path / "token", kdf_cost=TINY_COST),
        out=out,
    )
    session.start()
    assert "Bienvenido" in out.getvalue()

    def type_text(text: str) -> None:
        for key, presses in taps(text):
            for _ in range(presses):
                session.type(key.value)
            clock.advance(MULTITAP_TIMEOUT)
            session.tick()

    session.type("1")
    type_text("ana")
    session.type("\r")
    type_text("clave1")
    session.type("\r")
    session.type("m")  # read the mailbox
    code = out.getvalue().rsplit("[mail] ana@correo.com: ", 1)[1].split()[0]
    for char in code + "\r" + "2580\r2580\r":
        session.type(char)
    assert "Ana Pérez" in out.getvalue().rsplit("Su código", 1)[1]
    session.type("p")  # the portal works whenever the token has a device ID
    assert "[portal] ana, device ID " in out.getvalue()
    session.type("q")
    assert not session.running


@pytest.mark.parametrize(
    ("vault_kind", "line"),
    [("file", "Bóveda: archivo (débil)"), ("tpm", "Bóveda: TPM")],
)
def test_about_in_the_emulator_says_what_protects_the_vault(
    tmp_path: Path, vault_kind: str, line: str
) -> None:
    out = io.StringIO()
    clock = FakeClock()
    vault: Vault = (
        FileVault(tmp_path / "token", kdf_cost=TINY_COST)
        if vault_kind == "file"
        else FakeVault(protection=VaultProtection.TPM)
    )
    vault.create("2580", TokenData())  # a token with a PIN and no user yet
    vault.lock()
    session = EmulatorSession(display=TextDisplay(out), clock=clock, vault=vault, out=out)
    session.start()
    for char in "2580\r" + "3" + "3":  # PIN, settings (no users: item 3), about
        session.type(char)
    about = out.getvalue().rsplit("Acerca de", 1)[1]
    assert line in about
    assert "desarrollo" not in about


def test_the_emulator_marks_trust_on_first_use(tmp_path: Path) -> None:
    out = io.StringIO()
    session = EmulatorSession(
        display=TextDisplay(out),
        clock=FakeClock(),
        vault=FileVault(tmp_path / "token", kdf_cost=TINY_COST),
        out=out,
        trust_on_first_use=True,
    )
    session.start()
    assert "Bienvenido (desarrollo)" in out.getvalue()


def test_the_about_screens_fit_the_emulator_frame() -> None:
    for _, screen in about_screens():
        lines = frame(screen)
        assert all(len(line) == WIDTH for line in lines)
        text = " ".join(line.strip("| ") for line in lines)
        assert screen.body[2].split(":")[0] in text  # the vault's line is there
