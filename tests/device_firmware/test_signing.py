"""Signing a transfer on the token (docs/protocol.md §6): the user's menu, the amount, the
payee reference, the question read back, and the response with its countdown.

Responses are checked against `transfers.response_at` and python-oath (`tests/oracles.py`),
at the bank's time (the token's clock plus the learned offset)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from device_firmware.core import (
    CodeScreen,
    DigitEntryScreen,
    MenuScreen,
    MessageScreen,
    amount_entry,
    render,
    transfers,
)
from device_firmware.core.catalog import Language
from device_firmware.core.codes import grouped
from device_firmware.core.keys import Key
from device_firmware.core.records import Credential, TokenData
from device_firmware.core.state import (
    ConfirmTransfer,
    EnterAmount,
    EnterPayee,
    Session,
    ShowCode,
    ShowResponse,
    State,
    UserList,
    UserMenu,
)
from tests.device_firmware.conftest import Rig, define_pin, make_rig, register, saved_data
from tests.oracles import oath_ocra

SKEW = 37.0  # the bank's clock is 37 s ahead of the token's
RFC_KEY = bytes.fromhex("3132333435363738393031323334353637383930313233343536373839303132")
PAYEE = "00054321"


def signing_rig(language: Language = Language.ES, make: Callable[..., Rig] = make_rig) -> Rig:
    """A token with ana and beto, who sign transfers, and caro, who does not; on the list.

    `make` is `make_rig` (the fake vault), or `rig_factory` for the file and TPM vaults too."""
    rig = make(attempts_allowed=3, skew=SKEW)
    rig.bank.users["ana"].signs_transfers = True
    rig.bank.users["beto"].signs_transfers = True
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.press("C")  # from ana's first code to her menu
    assert rig.place == UserMenu("cred-1")
    rig.press("C")
    rig.press("2")  # "Agregar otro usuario"
    register(rig, "beto", "s3cret")
    rig.press("CC")
    rig.press("3")  # "Agregar otro usuario" with two users
    register(rig, "caro", "caro.99")
    rig.press("C")
    assert rig.place == UserList(cursor=2)
    if language is Language.EN:
        rig.press("612C")  # Configuración, Idioma, English, back to the list
        assert rig.place == UserList()
    return rig


def ocra_seed(rig: Rig, credential_id: str) -> bytes:
    data = saved_data(rig)
    assert data is not None
    credential = data.find(credential_id)
    assert credential is not None and credential.ocra_seed is not None
    return credential.ocra_seed


def start_signing(rig: Rig, user: int) -> None:
    """From the user list: user number `user`, then "Firmar operación"."""
    rig.press(str(user) + "2")
    assert isinstance(rig.place, EnterAmount)


def sign(rig: Rig, user: int, amount_keys: str, payee: str = PAYEE) -> CodeScreen:
    start_signing(rig, user)
    rig.press(amount_keys + "#" + payee + "#")
    assert isinstance(rig.place, ConfirmTransfer)
    rig.press("#")
    return rig.shown(CodeScreen)


def bank_time(rig: Rig) -> float:
    return rig.clock.now() + SKEW


# The user's menu ----------------------------------------------------------------------------


def test_a_user_who_signs_has_a_menu_and_one_who_does_not_goes_to_the_code() -> None:
    rig = signing_rig()
    rig.press("1")
    menu = rig.shown(MenuScreen)
    assert (menu.title, menu.items) == ("Ana Pérez", ("Ver código", "Firmar operación"))
    rig.press("1")
    assert rig.shown(CodeScreen).user == "Ana Pérez"
    rig.press("#")  # back from the code to her menu
    assert rig.place == UserMenu("cred-1")
    rig.press("C")
    assert rig.place == UserList(cursor=0)
    rig.press("3")  # caro's bank has not enabled signing: her code, as before
    assert rig.place == ShowCode("cred-3")
    rig.press("C")
    assert rig.place == UserList(cursor=2)


def test_unlocking_a_token_whose_only_user_signs_opens_the_users_menu() -> None:
    rig = make_rig()
    rig.bank.users["ana"].signs_transfers = True
    register(rig, "ana", "clave1")
    define_pin(rig)
    rig.restart()
    rig.press("2580#")
    assert rig.place == UserMenu("cred-1")


# The whole flow ------------------------------------------------------------------------------


def test_sign_a_transfer_end_to_end(rig_factory: Callable[..., Rig]) -> None:
    rig = signing_rig(make=rig_factory)
    start_signing(rig, 1)
    entry = rig.shown(DigitEntryScreen)
    assert entry.title == "Importe a transferir"
    assert entry.note == "D escribe la coma decimal."
    assert entry.hint == "D coma  * borrar  # continuar  C cancelar"
    rig.press("1250D")
    assert rig.shown(DigitEntryScreen).shown == "1.250,"
    rig.press("00#")
    payee = rig.shown(DigitEntryScreen)
    assert payee.title == "Cuenta destino"
    assert payee.note == "Sus últimos 8 dígitos, o el número que muestra el banco."
    assert payee.hint == "* borrar  # continuar  C cancelar"
    rig.press(PAYEE)
    assert rig.shown(DigitEntryScreen).shown == PAYEE
    rig.press("#")
    question = rig.shown(MessageScreen)
    assert question.title == "Confirme la operación"
    assert question.body == ("¿Transferir 1.250,00 a ...00054321?",)
    assert question.hint == "# confirmar  C cancelar"
    rig.press("#")
    response = rig.shown(CodeScreen)
    t = bank_time(rig)
    seed = ocra_seed(rig, "cred-1")
    expected = transfers.response_at(seed, 125_000, PAYEE, t)
    oracle = oath_ocra(transfers.SUITE, seed, "00000012500000054321", time_step=int(t // 60))
    assert expected == oracle and len(expected) == 8
    assert response.code == grouped(expected) == f"{expected[:4]} {expected[4:]}"
    assert response.title == "Respuesta"
    assert response.user == "1.250,00 ...4321"  # the payee's end: a line is narrow
    assert response.period == 60
    assert response.seconds_left == 60 - int(t) % 60
    assert response.countdown == f"Cambia en {response.seconds_left} s"
    rig.press("#")  # done: back to the menu, on "Firmar operación"
    assert rig.place == UserMenu("cred-1", cursor=1)


@pytest.mark.parametrize(
    ("keys", "cents"),
    [("1250", 125_000), ("1250D5", 125_050), ("D01", 1), ("0D5", 50), ("007", 700),
     ("9999999999D99", transfers.MAX_CENTS), ("12D", 1200)],
)  # fmt: skip
def test_the_amount_typed_is_the_amount_signed(keys: str, cents: int) -> None:
    rig = signing_rig()
    response = sign(rig, 1, keys)
    expected = transfers.response_at(ocra_seed(rig, "cred-1"), cents, PAYEE, bank_time(rig))
    assert response.code == grouped(expected)


def test_english_formats_the_amount_with_a_decimal_point() -> None:
    rig = signing_rig(Language.EN)
    start_signing(rig, 1)
    rig.press("1234567D5")
    entry = rig.shown(DigitEntryScreen)
    assert (entry.title, entry.shown) == ("Amount to transfer", "1,234,567.5")
    assert entry.hint == "D point  * delete  # continue  C cancel"
    rig.press("#" + PAYEE + "#")
    assert rig.shown(MessageScreen).body == ("Transfer 1,234,567.50 to ...00054321?",)
    rig.press("#")
    response = rig.shown(CodeScreen)
    assert (response.title, response.user) == ("Response", "1,234,567.50 ...4321")


# Refused inputs ------------------------------------------------------------------------------


def test_a_third_decimal_is_refused_with_a_message() -> None:
    rig = signing_rig()
    start_signing(rig, 1)
    rig.press("1D234")
    entry = rig.shown(DigitEntryScreen)
    assert (entry.shown, entry.note) == ("1,23", "Solo 2 decimales.")
    rig.press("*")  # the next key that is taken clears the message
    assert rig.shown(DigitEntryScreen).note == "D escribe la coma decimal."
    rig.press("DD5")  # a second point means nothing
    assert rig.shown(DigitEntryScreen).shown == "1,25"


@pytest.mark.parametrize("keys", ["", "0", "0D", "0D00", "D0"])
def test_an_amount_of_0_is_refused_with_a_message(keys: str) -> None:
    rig = signing_rig()
    start_signing(rig, 1)
    rig.press(keys + "#")
    assert isinstance(rig.place, EnterAmount)
    assert rig.shown(DigitEntryScreen).note == "Escriba un importe mayor que 0."


def test_an_amount_over_the_maximum_is_refused_with_a_message() -> None:
    rig = signing_rig()
    start_signing(rig, 1)
    rig.press("99999999999")  # an 11th digit before the point
    entry = rig.shown(DigitEntryScreen)
    assert entry.shown == "9.999.999.999"
    assert entry.note == "El máximo es 9.999.999.999,99."
    rig.press("D999")
    assert rig.shown(DigitEntryScreen).shown == "9.999.999.999,99"


def test_a_leading_zero_is_dropped() -> None:
    rig = signing_rig()
    start_signing(rig, 1)
    rig.press("0005")
    assert rig.shown(DigitEntryScreen).shown == "5"


@pytest.mark.parametrize("digits", ["", "1", "0005432"])
def test_fewer_than_8_payee_digits_are_refused_with_a_message(digits: str) -> None:
    rig = signing_rig()
    start_signing(rig, 1)
    rig.press("10#" + digits + "#")
    assert isinstance(rig.place, EnterPayee)
    assert rig.shown(DigitEntryScreen).note == "Escriba los 8 dígitos."
    rig.press("123456789")  # a 9th digit is not taken
    assert len(rig.shown(DigitEntryScreen).shown) == 8


# Cancel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["", "125D5", "125D5#", "125D5#0005", "125D5#00054321#",
                                  "125D5#00054321##"])  # fmt: skip
def test_cancel_at_each_step_returns_to_the_menu_and_forgets(keys: str) -> None:
    rig = signing_rig()
    start_signing(rig, 1)
    rig.press(keys + "C")
    assert rig.place == UserMenu("cred-1", cursor=1)
    rig.press("#")  # sign again: nothing of the last transfer is left
    assert rig.place == EnterAmount("cred-1")
    assert rig.shown(DigitEntryScreen).shown == ""


# Every user with their own seed ----------------------------------------------------------------


def test_two_users_each_sign_with_their_own_seed(rig_factory: Callable[..., Rig]) -> None:
    rig = signing_rig(make=rig_factory)
    ana = sign(rig, 1, "1250").code
    rig.press("C")  # menu
    rig.press("C")  # list
    beto = sign(rig, 2, "1250").code
    t = bank_time(rig)
    assert ana == grouped(transfers.response_at(ocra_seed(rig, "cred-1"), 125_000, PAYEE, t))
    assert beto == grouped(transfers.response_at(ocra_seed(rig, "cred-2"), 125_000, PAYEE, t))
    assert ocra_seed(rig, "cred-1") != ocra_seed(rig, "cred-2") and ana != beto


def test_the_response_changes_with_amount_payee_and_minute() -> None:
    rig = signing_rig()
    base = sign(rig, 1, "1250").code
    rig.press("#")
    rig.press("C")
    other_amount = sign(rig, 1, "1251").code
    rig.press("#")
    rig.press("C")
    other_payee = sign(rig, 1, "1250", "00054322").code
    assert len({base, other_amount, other_payee}) == 3
    rig.press("#")
    rig.press("C")
    again = sign(rig, 1, "1250")
    assert again.code == base
    rig.clock.advance(again.seconds_left)  # the next minute, on the same screen
    rig.token.tick()
    moved = rig.shown(CodeScreen)
    assert moved.code != base and moved.seconds_left == 60
    seed = ocra_seed(rig, "cred-1")
    assert moved.code == grouped(transfers.response_at(seed, 125_000, PAYEE, bank_time(rig)))


# The protocol's worked examples, through the token's own screen --------------------------------


@pytest.mark.parametrize(
    ("cents", "payee", "unix_time", "response"),
    [
        (125_000, "00054321", 1_796_117_400, "87175005"),
        (1, "98765432", 1_796_117_459, "11765313"),
        (999_999_999_999, "12345678", 1_798_156_740, "34395308"),
    ],
)
def test_the_response_screen_shows_the_protocols_worked_examples(
    cents: int, payee: str, unix_time: int, response: str
) -> None:
    credential = Credential(
        "cred-1", "Banco", "ana", "Ana", bytes(20), ocra_suite=transfers.SUITE, ocra_seed=RFC_KEY
    )
    data = TokenData((credential,), clock_offset=-12.0)  # the bank is 12 s behind the clock
    state = State(ShowResponse("cred-1", cents, payee), Session(data=data))
    screen = render(state, unix_time + 12.0)
    assert isinstance(screen, CodeScreen)
    assert screen.code == grouped(response)
    question = f"{cents:012d}{payee}"
    assert oath_ocra(transfers.SUITE, RFC_KEY, question, time_step=unix_time // 60) == response


def test_no_response_while_the_clock_is_not_set() -> None:
    credential = Credential(
        "cred-1", "Banco", "ana", "Ana", bytes(20), ocra_suite=transfers.SUITE, ocra_seed=RFC_KEY
    )
    state = State(ShowResponse("cred-1", 100, PAYEE), Session(data=TokenData((credential,))))
    screen = render(state, 1_796_117_400, clock_set=False)
    assert isinstance(screen, MessageScreen) and screen.title == "Hora no configurada"


# Nothing of it in logs or reprs ----------------------------------------------------------------


def test_the_amount_payee_response_and_seed_are_never_in_a_repr_or_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = signing_rig()
    seed = ocra_seed(rig, "cred-1")
    reprs = []
    start_signing(rig, 1)
    for key in "7531D42#" + "86420975" + "##":
        rig.press(key)
        reprs.append(repr(rig.token.state))
    response = rig.shown(CodeScreen).code.replace(" ", "")
    rig.press("#")
    reprs.append(repr(rig.token.state))
    told = "\n".join(reprs) + caplog.text
    for secret in ("7531", "753142", "86420975", response, seed.hex(), repr(seed)):
        assert secret not in told


# The amount's own rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "es", "en"),
    [(1, "0,01", "0.01"), (100, "1,00", "1.00"), (125_000, "1.250,00", "1,250.00"),
     (100_000_000, "1.000.000,00", "1,000,000.00"),
     (transfers.MAX_CENTS, "9.999.999.999,99", "9,999,999,999.99")],
)  # fmt: skip
def test_amounts_are_written_in_each_languages_marks(cents: int, es: str, en: str) -> None:
    assert amount_entry.formatted(cents, Language.ES) == es
    assert amount_entry.formatted(cents, Language.EN) == en


def test_keys_that_mean_nothing_in_an_amount_change_nothing() -> None:
    for key in (Key.A, Key.B, Key.HASH, Key.C):
        assert amount_entry.type_key("12.5", key) == ("12.5", None)
    assert amount_entry.type_key("", Key.STAR) == ("", None)
