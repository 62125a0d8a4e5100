"""Self-registration (PaySecure): username, password, e-mailed code, PIN; errors in words."""

from __future__ import annotations

import pytest

from device_firmware.core import (
    BundleRejected,
    CodeScreen,
    DigitEntryScreen,
    LinkError,
    MenuScreen,
    MessageScreen,
    TextEntryScreen,
    Tone,
    TooManyAttempts,
    UnknownCredential,
    Unreachable,
    device_id,
)
from device_firmware.core.state import (
    ConfirmPin,
    DefinePin,
    EnterEmailCode,
    EnterPassword,
    EnterUsername,
    Notice,
    ShowCode,
    Welcome,
)
from tests.device_firmware.conftest import (
    PIN,
    Rig,
    define_pin,
    register,
    saved_data,
    type_login,
)


def test_first_start_shows_the_device_id_and_the_two_ways_in(rig: Rig) -> None:
    screen = rig.screen
    assert isinstance(screen, MenuScreen)
    assert screen.title == "Bienvenido"
    assert screen.items[:2] == ("Registrarme con mi usuario", "Activar con un código")
    assert rig.device_id == device_id.make(rig.vault.public_key())
    assert device_id.format(rig.device_id) in screen.note


def test_username_entry_shows_cursor_and_pending_letter(rig: Rig) -> None:
    rig.press("1")
    assert isinstance(rig.place, EnterUsername)
    rig.press("2")
    rig.press("66")
    screen = rig.screen
    assert isinstance(screen, TextEntryScreen)
    assert (screen.text, screen.cursor, screen.pending, screen.mode) == ("an", 2, True, "abc")
    rig.clock.advance(1.0)
    rig.token.tick()  # the timeout fixes the "n" without a key press
    assert isinstance(rig.screen, TextEntryScreen)
    assert rig.screen.pending is False


def test_username_can_be_corrected_before_sending(rig: Rig) -> None:
    rig.press("1")
    rig.type_text("anx")
    rig.press("*")  # "an": delete the x
    rig.press("A")  # cursor between "a" and "n"
    rig.press("*")  # "n": delete the "a" before the cursor
    rig.type_text("a")  # "an", cursor after the new "a"
    rig.press("B")  # cursor to the end
    rig.type_text("a")
    screen = rig.screen
    assert isinstance(screen, TextEntryScreen)
    assert (screen.text, screen.cursor) == ("ana", 3)
    rig.press("#")
    place = rig.place
    assert isinstance(place, EnterPassword)
    assert place.username == "ana"


def test_empty_username_is_not_sent(rig: Rig) -> None:
    rig.press("1#")
    assert isinstance(rig.place, EnterUsername)
    rig.press("C")
    assert isinstance(rig.place, Welcome)


def test_password_is_masked_except_the_letter_being_typed(rig: Rig) -> None:
    rig.press("1")
    rig.type_text("ana")
    rig.press("#")
    rig.type_text("cl")
    rig.press("22")
    screen = rig.screen
    assert isinstance(screen, TextEntryScreen)
    assert screen.title == "Contraseña"
    assert screen.text == "••b"
    rig.clock.advance(1.0)
    rig.token.tick()
    assert isinstance(rig.screen, TextEntryScreen)
    assert rig.screen.text == "•••"
    assert "clb" not in repr(rig.token.state)


def test_back_from_password_keeps_the_username_for_correction(rig: Rig) -> None:
    rig.press("1")
    rig.type_text("ana")
    rig.press("#C")
    place = rig.place
    assert isinstance(place, EnterUsername)
    assert (place.entry.text, place.entry.cursor) == ("ana", 3)


def test_full_registration_then_pin_then_the_code(rig: Rig) -> None:
    type_login(rig, "ana", "clave1")
    rig.press("#")
    screen = rig.screen
    assert isinstance(screen, DigitEntryScreen)
    assert "a***@correo.com" in screen.note
    rig.press(rig.bank.last_email_code("ana") + "#")
    assert isinstance(rig.place, DefinePin)
    assert isinstance(rig.screen, DigitEntryScreen)
    assert rig.screen.title == "Defina un PIN de acceso de 4 dígitos"
    rig.press(PIN + "#")
    assert isinstance(rig.place, ConfirmPin)
    assert rig.screen.title == "Confirme su PIN de acceso de 4 dígitos"
    rig.press(PIN + "#")
    assert isinstance(rig.place, ShowCode)
    code = rig.screen
    assert isinstance(code, CodeScreen)
    assert code.user == "Ana Pérez"
    stored = saved_data(rig)
    assert stored is not None
    assert [c.username for c in stored.credentials] == ["ana"]
    assert rig.bank.calls == ["start_registration", "confirm_registration"]


def test_pin_mismatch_asks_to_define_it_again(rig: Rig) -> None:
    register(rig, "ana", "clave1")
    rig.press("1111#2222#")
    assert isinstance(rig.place, Notice)
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert screen.body == ("Los PIN no coinciden. Defina su PIN nuevamente.",)
    assert screen.tone is Tone.ERROR
    rig.press("#")
    assert isinstance(rig.place, DefinePin)
    assert saved_data(rig) is None  # nothing saved until the PIN is confirmed
    define_pin(rig)
    assert isinstance(rig.place, ShowCode)


def test_pin_entry_needs_all_digits_and_allows_corrections(rig: Rig) -> None:
    register(rig, "ana", "clave1")
    rig.press("12#")  # too short: OK does nothing
    assert isinstance(rig.place, DefinePin)
    rig.press("3456")  # a fifth digit is ignored
    assert isinstance(rig.screen, DigitEntryScreen)
    assert rig.screen.shown == "••••"
    rig.press("*7#")
    confirm = rig.place
    assert isinstance(confirm, ConfirmPin)
    assert confirm.first == "1237"
    rig.press("C")
    assert isinstance(rig.place, DefinePin)


def test_wrong_password_is_shown_in_plain_words_and_username_kept(rig: Rig) -> None:
    type_login(rig, "ana", "nope")
    rig.press("#")
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert screen.body == ("El usuario o la contraseña no son correctos.",)
    rig.press("#")
    place = rig.place
    assert isinstance(place, EnterUsername)
    assert place.entry.text == "ana"


def test_wrong_email_code_lets_the_customer_try_again(rig: Rig) -> None:
    type_login(rig, "ana", "clave1")
    rig.press("#")
    good = rig.bank.last_email_code("ana")
    bad = "000000" if good != "000000" else "111111"
    rig.press(bad + "#")
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body == ("El código no es correcto. Revise su correo e intente de nuevo.",)
    rig.press("#")
    assert isinstance(rig.place, EnterEmailCode)
    rig.press(good + "#")
    assert isinstance(rig.place, DefinePin)


def test_expired_email_code_starts_again(rig: Rig) -> None:
    type_login(rig, "ana", "clave1")
    rig.press("#")
    rig.clock.advance(601)
    rig.press(rig.bank.last_email_code("ana") + "#")
    assert isinstance(rig.screen, MessageScreen)
    assert rig.screen.body == ("El código venció. Empiece de nuevo para recibir otro.",)
    rig.press("#")
    assert isinstance(rig.place, EnterUsername)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (Unreachable("timeout"), "No se pudo conectar con el banco."),
        (TooManyAttempts("later"), "Demasiados intentos."),
        (BundleRejected("bad signature"), "La respuesta del banco no pudo verificarse."),
        (UnknownCredential("?"), "El banco no pudo atender la solicitud."),
        (LinkError("anything else"), "El banco no pudo atender la solicitud."),
    ],
)
def test_server_errors_are_shown_in_plain_words(rig: Rig, error: LinkError, words: str) -> None:
    type_login(rig, "ana", "clave1")
    rig.bank.fail_next(error)
    rig.press("#")
    screen = rig.screen
    assert isinstance(screen, MessageScreen)
    assert screen.tone is Tone.ERROR
    assert screen.body[0].startswith(words)
    assert str(error) not in screen.body[0]  # the customer never sees internal details
    rig.press("#")
    assert isinstance(rig.place, EnterPassword)  # retry from the password


def test_unreachable_while_confirming_keeps_the_email_code_screen(rig: Rig) -> None:
    type_login(rig, "ana", "clave1")
    rig.press("#")
    rig.bank.fail_next(Unreachable("down"))
    rig.press(rig.bank.last_email_code("ana") + "#")
    assert isinstance(rig.screen, MessageScreen)
    rig.press("#")
    assert isinstance(rig.place, EnterEmailCode)


def test_a_busy_screen_is_shown_while_the_bank_answers(rig: Rig) -> None:
    type_login(rig, "ana", "clave1")
    before = len(rig.display.frames)
    rig.press("#")
    busy = rig.display.frames[before]
    assert isinstance(busy, MessageScreen)
    assert busy.tone is Tone.BUSY
    assert busy.body == ("Conectando con el banco…",)
