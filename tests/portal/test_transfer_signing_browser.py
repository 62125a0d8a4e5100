"""A transfer signed on the token, in a real browser (Debian's chromium driven by
Playwright), in Spanish and in English, against a server process.

The customer's token is enrolled through the portal's activation (its bundle brings the
OCRA seed, as every token enrolled since transaction signing). What the page says to type
is pressed on the token's own amount entry (`device_firmware/core/amount_entry.py`), and the
response is the token's own computation (`device_firmware/core/transfers.py`): the page's
instructions, followed, must give the signature the server accepts."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from device_firmware.core import amount_entry
from device_firmware.core.catalog import Language
from device_firmware.core.keys import Key
from device_firmware.core.transfers import response_at
from tests.enrollment.token_client import Provisioned, TokenClient
from tests.portal.conftest import Portal, http
from tests.portal.visitor import Visitor
from tests.server.conftest import assert_no_secret_in
from tests.server.processes import logged

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not

ACCOUNT = "012345678900054321"


@dataclass(frozen=True)
class Words:
    """What the customer reads and clicks, in one language."""

    locale: str
    language: Language
    username: str
    password: str
    log_in: str
    code: str
    next: str
    amount: str
    account: str
    concept: str
    to_signing: str
    signing_note: str
    response: str
    sign: str
    shown: str
    question: str
    approved: str
    refused: str
    cannot_sign: str
    suffix: str


WORDS = {
    "es": Words(
        locale="es-ES",
        language=Language.ES,
        username="Usuario",
        password="Contraseña",
        log_in="Ingresar",
        code="Código",
        next="Continuar",
        amount="Importe",
        account="Cuenta destino",
        concept="Concepto",
        to_signing="Continuar a la firma",
        signing_note="Su token firmará esta transferencia",
        response="Respuesta del token",
        sign="Firmar y aprobar",
        shown="1.250,00",
        question="¿Transferir 1.250,00 a ...00054321?",
        approved="Operación aprobada",
        refused="Operación no aprobada: La respuesta no es correcta.",
        cannot_sign="Su token no puede firmar transferencias: escriba un código.",
        suffix="",
    ),
    "en": Words(
        locale="en-US",
        language=Language.EN,
        username="Username",
        password="Password",
        log_in="Log in",
        code="Code",
        next="Continue",
        amount="Amount",
        account="Destination account",
        concept="Reference",
        to_signing="Continue to signing",
        signing_note="Your token will sign this transfer",
        response="The token's response",
        sign="Approve with the signature",
        shown="1,250.00",
        question="Transfer 1,250.00 to ...00054321?",
        approved="Operation approved",
        refused="Operation not approved: The response is not correct.",
        cannot_sign="Your token cannot sign transfers: enter a code.",
        suffix="-en",
    ),
}


def _enrolled(portal: Portal) -> tuple[str, str, Provisioned]:
    """A customer whose token was activated through the portal (over HTTP: the wizard's
    pages have a browser test of their own): username, password and what the token got."""
    username, password, _ = portal.customer(with_token=False)
    visitor = Visitor(portal.base)
    visitor.log_in(username, password)
    token = TokenClient(http(portal))
    token.first_contact()
    issued = visitor.post(
        "/portal/activate",
        {"token_kind": "emulator", "device_id": token.device_id},
        page="/portal/activate",
    )
    match = re.search(r'id="activation-code">([^<]+)<', issued.text)
    assert match, issued.text[:500]
    provisioned = token.provisioned(token.redeem(match.group(1)))
    visitor.close()
    assert provisioned.ocra_seed is not None, "a token enrolled now signs transfers"
    return username, password, provisioned


def _log_in(page: Page, words: Words, username: str, password: str, code: str) -> None:
    page.goto("/portal/login")
    page.get_by_label(words.username).fill(username)
    page.get_by_label(words.password).fill(password)
    page.get_by_role("button", name=words.log_in).click()
    page.get_by_label(words.code).fill(code)
    page.get_by_role("button", name=words.next, exact=True).click()
    expect(page).to_have_url(re.compile(r"/portal/$"))


def _to_signing_page(page: Page, words: Words) -> None:
    page.goto("/portal/operations/transfer")
    expect(page.locator("#signing-note")).to_contain_text(words.signing_note)
    expect(page.locator("input[name=code]")).to_have_count(0)
    page.get_by_label(words.amount).fill("1250")
    page.get_by_label(words.account).fill(ACCOUNT)
    page.get_by_label(words.concept).fill("Renta diciembre")
    page.get_by_role("button", name=words.to_signing).click()
    expect(page.locator("#sign-amount")).to_have_text(f"{words.shown} EUR")


def _token_signs(page: Page, words: Words, seed: bytes, cents_added: int = 0) -> str:
    """What the customer does on the token: the amount's keys the page shows, pressed on
    the token's amount entry (its screen must show what the page says), the payee's digits,
    and the response the token computes now."""
    keys = page.locator("#sign-amount-keys").inner_text()
    typed = ""
    for char in keys.replace(" ", ""):
        typed, refused = amount_entry.type_key(typed, Key.parse(char))
        assert refused is None, keys
    assert amount_entry.shown(typed, words.language) == words.shown
    payee = page.locator("#sign-payee-keys").inner_text().strip()
    return response_at(seed, amount_entry.cents(typed) + cents_added, payee, time.time())


def _send(page: Page, words: Words, response: str) -> None:
    """The response typed and sent; back when the server's answer is the page."""
    page.get_by_label(words.response).fill(response)
    with page.expect_navigation():
        page.get_by_role("button", name=words.sign).click()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_transfer_signed_on_the_token(browser: Browser, portal: Portal, lang: str) -> None:
    words = WORDS[lang]
    username, password, provisioned = _enrolled(portal)
    seed = provisioned.ocra_seed
    assert seed is not None
    context = browser.new_context(
        base_url=portal.base, locale=words.locale, viewport={"width": 1100, "height": 760}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    code = provisioned.totp().now()
    secrets = {code}
    _log_in(page, words, username, password, code)

    _to_signing_page(page, words)
    expect(page.locator("#sign-amount-keys")).to_have_text("1250 D 00")
    expect(page.locator("#sign-payee-keys")).to_have_text("00054321")
    expect(page.locator("#sign-question")).to_contain_text(words.question)
    portal.shot(page, f"transfer-sign{words.suffix}")

    # a response for another amount, then for another payee: refused
    other_amount = _token_signs(page, words, seed, cents_added=1)
    payee_keys = page.locator("#sign-payee-keys")
    other_payee = response_at(seed, 125000, "00054320", time.time())
    assert payee_keys.inner_text().strip() == "00054321"
    for wrong in (other_amount, other_payee):
        secrets.add(wrong)
        _send(page, words, wrong)
        expect(page.locator("#result")).to_contain_text(words.refused)
        expect(page.locator("#sign-amount")).to_have_text(f"{words.shown} EUR")

    # the right response, sent with a hidden field changed: refused
    for field, value in (("amount", "1350.00"), ("account", "012345678900099999")):
        _to_signing_page(page, words)
        right = _token_signs(page, words, seed)
        secrets.add(right)
        page.evaluate(
            "([field, value]) => { document.querySelector(`input[name=${field}]`).value = value }",
            [field, value],
        )
        _send(page, words, right)
        expect(page.locator("#result")).to_contain_text(words.refused)

    # the right response for the transfer shown: approved, and it says what was signed
    _to_signing_page(page, words)
    right = _token_signs(page, words, seed)
    secrets.add(right)
    _send(page, words, right)
    expect(page.locator("#result")).to_have_text(words.approved)
    expect(page.locator("#approved-amount")).to_have_text(f"{words.shown} EUR")
    expect(page.locator("#approved-payee")).to_have_text("...0005 4321")
    assert page.locator("#reference").inner_text().startswith("TRA-")
    portal.shot(page, f"transfer-signed{words.suffix}")
    context.close()

    lines = []
    for line in logged(portal.base):  # without timestamps, whose digits are no secret
        try:
            record = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        record.pop("timestamp", None)
        lines.append(json.dumps(record))
    assert any(username in line for line in lines), "the server's log was not read"
    assert_no_secret_in(lines, secrets)


def test_a_token_that_cannot_sign_is_asked_for_a_code(page: Page, portal: Portal) -> None:
    username, password, totp = portal.customer(with_token=True)  # TOTP only, imported
    assert totp is not None
    _log_in(page, WORDS["es"], username, password, totp.now())
    for lang in ("es", "en"):
        words = WORDS[lang]
        page.goto(f"/portal/operations/transfer?lang={lang}")
        expect(page.locator("#signing-note")).to_have_text(words.cannot_sign)
        expect(page.get_by_label(words.code)).to_be_visible()
        expect(page.get_by_label(words.response)).to_have_count(0)
        expect(page.get_by_role("button", name=words.to_signing)).to_have_count(0)
