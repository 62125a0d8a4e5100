"""The portal's login for a customer whose only token gives no codes (an imported OCRA
one): the code step shows a challenge of 8 digits to type on the token, and takes the
token's response (docs/protocol.md §6.2). Responses are python-oath's."""

from __future__ import annotations

import re

from sqlmodel import select

from server.db.models import AuditEvent
from tests.portal.visitor import csrf_of
from tests.server.conftest import Bank, VendorToken


def _password_step(bank: Bank, token: VendorToken, lang: str = "es") -> str:
    """Username and password; the code step's page."""
    form = csrf_of(bank.client.get(f"/portal/login?lang={lang}").text)
    answer = bank.client.post(
        "/portal/login",
        follow_redirects=False,
        data={"username": token.username, "password": token.password, "_csrf_token": form},
    )
    assert answer.headers["location"] == "/portal/login/code"
    return bank.client.get("/portal/login/code").text


def _challenge_on(page: str) -> str:
    match = re.search(r'id="challenge">\s*(\d{4}) (\d{4})\s*<', page)
    assert match, page[-1500:]
    return match.group(1) + match.group(2)


def _answer(bank: Bank, page: str, response: str) -> tuple[int, str]:
    bank.secrets_used.add(response)
    answer = bank.client.post(
        "/portal/login/code",
        follow_redirects=False,
        data={"code": response, "_csrf_token": csrf_of(page)},
    )
    return answer.status_code, answer.headers.get("location", answer.text)


def test_a_token_that_gives_no_codes_logs_in_by_answering_the_challenge(bank: Bank) -> None:
    token = bank.add_vendor_token()
    page = _password_step(bank, token)
    assert "escriba en él este desafío de 8 cifras" in page
    challenge = _challenge_on(page)
    assert _challenge_on(bank.client.get("/portal/login/code").text) == challenge  # reloaded
    status, where = _answer(bank, page, token.answer(challenge, bank.clock()))
    assert (status, where) == (302, "/portal/")
    assert "Vendor Token" in bank.client.get("/portal/").text
    with bank.services.db.transaction() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.subject == token.username)).first()
    assert event is not None and event.result == "accepted" and challenge in event.details


def test_a_wrong_or_another_challenges_response_is_refused(bank: Bank) -> None:
    token = bank.add_vendor_token()
    page = _password_step(bank, token, "en")
    assert "type this 8-digit challenge on it" in page
    challenge = _challenge_on(page)
    other = f"{(int(challenge) + 1) % 10**8:08d}"
    for response in (token.answer(other, bank.clock()), "12345678", "not-digits"):
        status, body = _answer(bank, page, response)
        assert status == 401 and "The code is not correct." in body
        assert _challenge_on(body) == challenge
    status, where = _answer(bank, page, token.answer(challenge, bank.clock()))
    assert (status, where) == (302, "/portal/")


def test_each_login_has_its_own_challenge(bank: Bank) -> None:
    token = bank.add_vendor_token()
    first = _challenge_on(_password_step(bank, token))
    second = _challenge_on(_password_step(bank, token))  # a new login, a new session
    assert first != second


def test_a_token_that_gives_codes_is_asked_for_a_code(bank: Bank) -> None:
    customer = bank.add_signer()  # TOTP and OCRA: it shows codes
    form = csrf_of(bank.client.get("/portal/login").text)
    bank.client.post(
        "/portal/login",
        data={"username": customer.username, "password": customer.password, "_csrf_token": form},
    )
    page = bank.client.get("/portal/login/code").text
    assert 'id="challenge"' not in page and "código de 6 dígitos" in page


def _logged_in(bank: Bank) -> VendorToken:
    token = bank.add_vendor_token()
    page = _password_step(bank, token)
    assert _answer(bank, page, token.answer(_challenge_on(page), bank.clock()))[1] == "/portal/"
    return token


def _approve(bank: Bank, form: str, response: str, **fields: str) -> tuple[int, str]:
    bank.secrets_used.add(response)
    nonce = re.search(r'name="challenge_nonce" value="([0-9a-f]+)"', form)
    assert nonce, form[-1500:]
    data = {
        "month": "2026-06",
        "code": response,
        "challenge_nonce": nonce.group(1),
        "_csrf_token": csrf_of(form),
        **fields,
    }
    answer = bank.client.post("/portal/operations/statement", data=data)
    return answer.status_code, answer.text


def test_an_operation_is_approved_by_answering_its_own_challenge_once(bank: Bank) -> None:
    token = _logged_in(bank)
    form = bank.client.get("/portal/operations/statement").text
    challenge = _challenge_on(form)
    assert _challenge_on(bank.client.get("/portal/operations/statement").text) != challenge
    response = token.answer(challenge, bank.clock())
    status, page = _approve(bank, form, response)
    assert status == 200 and 'id="reference"' in page
    assert _approve(bank, form, response)[0] == 403  # the same form's answer again


def test_an_operations_challenge_cannot_be_chosen_by_the_browser(bank: Bank) -> None:
    token = _logged_in(bank)
    form = bank.client.get("/portal/operations/statement").text
    response = token.answer(_challenge_on(form), bank.clock())
    status, _ = _approve(bank, form, response, challenge_nonce="not-a-nonce")
    assert status == 400
    other_nonce = "0123456789abcdef"  # another form's digits: the response is for these
    assert _approve(bank, form, response, challenge_nonce=other_nonce)[0] == 403
