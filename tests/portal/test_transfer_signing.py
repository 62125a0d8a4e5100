"""The portal's signed transfer over HTTP, in process with an injected clock: the signing
page says what to type on the token, a response computed by python-oath (tests/oracles.py,
never the server's HSM path) approves exactly that transfer, and a response for another
amount or payee, or details changed between the two steps, are refused. A customer whose
token cannot sign keeps the code. The words the page uses for the token's screens are the
token's own."""

from __future__ import annotations

import json
import random
import re
from html import unescape

import pytest
from sqlmodel import select

from device_firmware.core import amount_entry
from device_firmware.core.catalog import Language, Msg, say
from device_firmware.core.keys import Key
from hsm import Algorithm
from server.db.models import AuditEvent, CredentialKind
from server.domain.verification.transfers import MAX_AMOUNT as SIGNABLE
from server.portal.i18n import MESSAGES, amount
from server.portal.operations import MAX_AMOUNT, OPERATIONS
from tests.portal.logins import code_step, password_step
from tests.portal.visitor import csrf_of
from tests.server.conftest import Bank, Customer, Signer

ACCOUNT = "012345678900054321"
TRANSFER = {"amount": "1250.00", "account": ACCOUNT, "concept": "Renta diciembre"}
FORM = "/portal/operations/transfer"
SIGN = "/portal/operations/transfer/sign"


def _log_in(bank: Bank, customer: Customer) -> None:
    password_step(bank, customer)
    code_step(bank, customer)


def _signer(bank: Bank) -> Signer:
    signer = bank.add_signer()
    _log_in(bank, signer)
    return signer


def _text(html: str) -> str:
    """The page's text, tags dropped and spaces folded: what the customer reads."""
    body = html.split("</header>", 1)[-1]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def _by_id(html: str, element: str) -> str:
    match = re.search(rf'id="{element}"[^>]*>(.*?)</(?:dd|span|p|strong)>', html, re.S)
    assert match, f"no #{element} in the page"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", match.group(1)))).strip()


def _to_signing_page(bank: Bank, fields: dict[str, str] = TRANSFER, lang: str = "es") -> str:
    """The transfer's form posted: the signing page's HTML."""
    token = csrf_of(bank.client.get(f"{FORM}?lang={lang}").text)
    answer = bank.client.post(FORM, data={**fields, "_csrf_token": token})
    assert answer.status_code == 200, answer.text
    assert 'name="response"' in answer.text and 'name="code"' not in answer.text
    return answer.text


def _sign(bank: Bank, signing_page: str, response: str, **changed: str) -> tuple[int, str]:
    """The signing page's form sent with `response`, its hidden fields `changed` (what a
    script in the browser could do)."""
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', signing_page))
    assert set(hidden) == {"amount", "account", "concept", "_csrf_token"}
    if response:
        bank.secrets_used.add(response)
    answer = bank.client.post(
        SIGN,
        data={
            **{name: unescape(value) for name, value in hidden.items()},
            **changed,
            "response": response,
        },
    )
    return answer.status_code, answer.text


def _typed_on_token(keys: str, language: Language) -> tuple[str, int]:
    """The keys the page says to type (``1250 D 00``), pressed on the token's amount entry
    (`device_firmware/core/amount_entry.py`): what its screen shows, and the cents."""
    typed = ""
    for char in keys.replace(" ", ""):
        typed, refused = amount_entry.type_key(typed, Key.parse(char))
        assert refused is None, (keys, char)
    return amount_entry.shown(typed, language), amount_entry.cents(typed)


def _transfer_events(bank: Bank, username: str) -> list[dict[str, object]]:
    with bank.services.db.transaction() as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.subject == username)
            .where(AuditEvent.purpose == "transfer")
            .order_by(AuditEvent.seq)  # type: ignore[arg-type]
        ).all()
    return [
        {"result": e.result, "reason": e.reason, "actor": e.actor, **json.loads(e.details)}
        for e in events
    ]


def test_the_signing_page_says_what_to_type_and_the_response_approves_it(bank: Bank) -> None:
    signer = _signer(bank)
    form = bank.client.get(FORM).text
    assert "Su token firmará esta transferencia" in form
    assert 'name="code"' not in form  # a token that signs is never asked for a plain code

    signing = _to_signing_page(bank)
    assert _by_id(signing, "sign-amount") == "1.250,00 EUR"
    assert _by_id(signing, "sign-account") == ACCOUNT
    assert _by_id(signing, "sign-amount-keys") == "1250 D 00"
    assert _typed_on_token("1250 D 00", Language.ES) == ("1.250,00", 125000)
    assert _by_id(signing, "sign-payee-keys") == "00054321"
    assert _by_id(signing, "sign-question") == (
        "El token pregunta «¿Transferir 1.250,00 a ...00054321?». "
        "Si es lo que quiere firmar, pulse #."
    )
    text = _text(signing)
    for step in (
        "«Firmar operación»",
        "«Importe a transferir» Escriba el importe solo con cifras y la tecla D",
        "El token muestra 1.250,00.",
        "firma importes en EUR",
        "«Cuenta destino» Escriba los últimos 8 dígitos de la cuenta destino (...0005 4321)",
        "«Confirme la operación»",
        "«Respuesta» Escriba abajo los 8 dígitos",
    ):
        assert step in text, step

    status, result = _sign(bank, signing, signer.sign("1250.00", ACCOUNT, bank.clock()))
    assert status == 200, result
    assert "Operación aprobada" in result
    assert _by_id(result, "approved-amount") == "1.250,00 EUR"
    assert _by_id(result, "approved-payee") == "...0005 4321"
    assert re.fullmatch(r"TRA-[0-9A-F]{8}", _by_id(result, "reference"))
    (event,) = _transfer_events(bank, signer.username)
    assert event == {
        "result": "accepted",
        "reason": "accepted",
        "actor": "client:portal",
        "transaction": TRANSFER,
        "signed": {
            "amount": "1250.00",
            "currency": "EUR",
            "payee_reference": "00054321",
            "question": "00000012500000054321",
        },
        "credential": signer.credential_id,
    }


def test_the_signing_page_in_english(bank: Bank) -> None:
    signer = _signer(bank)
    signing = _to_signing_page(bank, {**TRANSFER, "amount": "987654.5"}, "en")
    assert _by_id(signing, "sign-amount") == "987,654.50 EUR"
    assert _by_id(signing, "sign-amount-keys") == "987654 D 50"
    assert _typed_on_token("987654 D 50", Language.EN) == ("987,654.50", 98765450)
    assert _by_id(signing, "sign-question") == (
        "The token asks “Transfer 987,654.50 to ...00054321?”. "
        "If that is what you want to sign, press #."
    )
    text = _text(signing)
    for step in (
        "“Sign a transaction”",
        "“Amount to transfer” Type the amount with digits and the D key",
        "“Payee account” Type the last 8 digits of the payee account (...0005 4321)",
        "“Response” Type below the 8 digits the token shows",
    ):
        assert step in text, step
    status, result = _sign(bank, signing, signer.sign("987654.50", ACCOUNT, bank.clock()))
    assert status == 200, result
    assert _by_id(result, "approved-amount") == "987,654.50 EUR"


@pytest.mark.parametrize(
    ("signed", "changed"),
    [
        pytest.param({"amount": "1250.01"}, {}, id="response-for-another-amount"),
        pytest.param({"account": "012345678900054320"}, {}, id="response-for-another-payee"),
        pytest.param({}, {"amount": "1350.00"}, id="hidden-amount-changed"),
        pytest.param({}, {"account": "012345678900099999"}, id="hidden-account-changed"),
    ],
)
def test_a_response_for_another_transfer_is_refused(
    bank: Bank, signed: dict[str, str], changed: dict[str, str]
) -> None:
    signer = _signer(bank)
    signing = _to_signing_page(bank)
    what = {**TRANSFER, **signed}
    wrong = signer.sign(what["amount"], what["account"], bank.clock())
    status, refused = _sign(bank, signing, wrong, **changed)
    assert status == 403
    assert _by_id(refused, "result") == (
        "Operación no aprobada: La respuesta no es correcta. Revise que escribió en el token "
        "este importe y esta cuenta, y escriba una respuesta nueva."
    )
    assert 'name="response"' in refused  # the customer can try again on the same page
    (event,) = _transfer_events(bank, signer.username)
    assert (event["result"], event["reason"]) == ("rejected", "wrong_code")
    # the transfer as posted is what was refused, and what the audit says was asked for
    assert event["transaction"] == {**TRANSFER, **changed}
    # the right response for the transfer shown still approves it
    status, result = _sign(bank, signing, signer.sign("1250.00", ACCOUNT, bank.clock()))
    assert (status, _by_id(result, "approved-amount")) == (200, "1.250,00 EUR")


def test_the_signing_step_is_reached_only_through_the_form(bank: Bank) -> None:
    _signer(bank)
    back = bank.client.get(SIGN, follow_redirects=False)  # a reload after an answer
    assert (back.status_code, back.headers["location"]) == (302, FORM)
    bank.client.cookies.delete("otp_session")
    token = csrf_of(bank.client.get("/portal/login").text)
    gone = bank.client.post(
        SIGN, follow_redirects=False, data={**TRANSFER, "response": "1", "_csrf_token": token}
    )
    assert (gone.status_code, gone.headers["location"]) == (302, "/portal/login")


def test_wrong_responses_spend_the_budget_then_lock(bank: Bank) -> None:
    signer = _signer(bank)
    signing = _to_signing_page(bank, lang="en")
    results = []
    for cents in range(1, 6):
        wrong = signer.sign(f"{1250 + cents / 100:.2f}", ACCOUNT, bank.clock())
        status, page = _sign(bank, signing, wrong)
        results.append((status, _by_id(page, "result")))
    refused = "Operation not approved: The response is not correct."
    assert [status for status, _ in results] == [403] * 5
    assert all(text.startswith(refused) for _, text in results[:4])
    assert re.fullmatch(
        r"Operation not approved: Too many wrong codes\. Try again in \d+ min\.", results[4][1]
    )
    right = signer.sign("1250.00", ACCOUNT, bank.clock())
    status, page = _sign(bank, signing, right)  # locked: not even looked at
    assert status == 403 and "Too many wrong codes" in _by_id(page, "result")


@pytest.mark.parametrize("response", ["", "12ab5678", "12345", "12345678901"])
def test_a_response_that_is_not_digits_spends_nothing(bank: Bank, response: str) -> None:
    signer = _signer(bank)
    status, page = _sign(bank, _to_signing_page(bank), response)
    assert status == 400
    assert _by_id(page, "result") == (
        "Operación no aprobada: Escriba la respuesta: las cifras que muestra el token."
    )
    assert _transfer_events(bank, signer.username) == []


@pytest.mark.parametrize(
    ("lang", "typed", "message"),
    [
        ("es", "10000000000.00", "el importe máximo es 1.000.000,00"),
        ("en", "10000000000.00", "the largest amount is 1,000,000.00"),
        ("es", "12.345", "sin separador de miles"),  # 12345 to a Spaniard, 12.345 to others
        ("en", "1,250.00", "without thousands separators"),
        ("en", "12.345", "without thousands separators"),
        ("es", "0", "el importe es mayor que 0"),
    ],
)
def test_an_amount_the_token_cannot_sign_is_a_form_error(
    bank: Bank, lang: str, typed: str, message: str
) -> None:
    signer = _signer(bank)
    token = csrf_of(bank.client.get(f"{FORM}?lang={lang}").text)
    answer = bank.client.post(FORM, data={**TRANSFER, "amount": typed, "_csrf_token": token})
    assert answer.status_code == 400
    assert message in _text(answer.text)
    assert 'name="response"' not in answer.text
    # the same amount slipped into the signing step's hidden field: the same form error
    signing = _to_signing_page(bank, lang=lang)
    status, page = _sign(bank, signing, "12345678", amount=typed)
    assert status == 400 and message in _text(page)
    assert _transfer_events(bank, signer.username) == []


def test_every_amount_the_form_accepts_can_be_signed() -> None:
    assert MAX_AMOUNT <= SIGNABLE


def test_a_token_that_cannot_sign_keeps_the_code(bank: Bank) -> None:
    plain = bank.add_customer()  # a TOTP credential without an OCRA seed
    _log_in(bank, plain)
    form = bank.client.get(FORM).text
    assert "Su token no puede firmar transferencias: escriba un código." in _text(form)
    assert 'name="code"' in form
    english = bank.client.get(f"{FORM}?lang=en").text
    assert "Your token cannot sign transfers: enter a code." in _text(english)
    # the signing step is not for this customer: back to the code's form, nothing spent
    token = csrf_of(form)
    answer = bank.client.post(SIGN, data={**TRANSFER, "response": "12345678", "_csrf_token": token})
    assert answer.status_code == 409
    assert 'name="code"' in answer.text and 'name="response"' not in answer.text
    assert _transfer_events(bank, plain.username) == []
    bank.clock.advance(60)
    code = plain.code(bank.clock())
    bank.secrets_used.add(code)
    token = csrf_of(bank.client.get(FORM).text)
    approved = bank.client.post(FORM, data={**TRANSFER, "code": code, "_csrf_token": token})
    assert approved.status_code == 200 and "Operation approved" in approved.text


def test_a_customer_whose_only_credential_is_ocra_signs(bank: Bank) -> None:
    signer = _signer(bank)
    # the credential becomes an imported OCRA key, as a PSKC import stores one: its OCRA
    # seed is its only seed, the same blob in both columns (docs/officer.md)
    with bank.services.db.transaction() as session:
        credential = bank.services.credentials.get(session, signer.credential_id)[0]
        assert credential.ocra_wrapped_seed is not None
        credential.kind = CredentialKind.OCRA
        credential.wrapped_seed = credential.ocra_wrapped_seed
        credential.seed_length = credential.ocra_seed_length or 0
        credential.algorithm, credential.digits = Algorithm.SHA256.value, 8
        session.add(credential)
    signing = _to_signing_page(bank)
    status, result = _sign(bank, signing, signer.sign("1250.00", ACCOUNT, bank.clock()))
    assert (status, _by_id(result, "approved-payee")) == (200, "...0005 4321")


def test_the_page_names_the_tokens_screens_in_its_own_words() -> None:
    """The signing page's names for the token's menu and screens, and its question, are
    the token's catalog's (device_firmware/core/catalog.py), in both languages."""
    pairs = {
        "sign.menu": Msg.MENU_SIGN,
        "sign.screen.amount": Msg.TITLE_AMOUNT,
        "sign.screen.payee": Msg.TITLE_PAYEE,
        "sign.screen.confirm": Msg.TITLE_CONFIRM_TRANSFER,
        "sign.screen.response": Msg.TITLE_RESPONSE,
    }
    for index, language in enumerate((Language.ES, Language.EN)):
        for key, msg in pairs.items():
            assert MESSAGES[key][index] == say(language, msg), key
        ours = MESSAGES["sign.question"][index].format(amount="1.250,00", payee="00054321")
        assert ours == say(language, Msg.TRANSFER_QUESTION, amount="1.250,00", payee="00054321")


def test_amounts_are_shown_as_the_token_shows_them() -> None:
    rng = random.Random(22)
    samples = [1, 99, 100, 123456, 100000000, 999_999_999_999]
    samples += [rng.randrange(1, 10**12) for _ in range(200)]
    for cents in samples:
        for lang, language in (("es", Language.ES), ("en", Language.EN)):
            assert amount(cents, lang) == amount_entry.formatted(cents, language), cents


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("1250", "1250.00"),
        ("1250,5", "1250.50"),  # the Spanish decimal comma
        ("1250.50", "1250.50"),
        (" 7,05 ", "7.05"),
        ("1.250,00", None),  # thousands separators: which is the decimal mark?
        ("1,250.00", None),
        ("1.250", None),  # 1250 in Spanish, 1.25 in English: neither is guessed
        ("1,25,0", None),
        ("1e3", None),
        ("١٢٣", None),  # digits of another script
    ],
)
def test_an_amount_is_read_one_way_in_both_languages(typed: str, kept: str | None) -> None:
    field = OPERATIONS["transfer"].fields[0]
    assert field.kind == "amount"
    assert field.clean(typed) == kept
