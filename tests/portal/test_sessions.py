"""Server-side portal sessions, in process with an injected clock: the idle and absolute
limits, the login's code step, the "active sessions" page and its bad input, and the
cookies' attributes."""

from __future__ import annotations

import hashlib
import json

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from hsm import Hsm
from server.app import create_app
from server.db.models import PortalSession
from server.domain.sessions.rules import CODE_SECONDS
from tests.portal.logins import code_step, password_step
from tests.portal.visitor import csrf_of
from tests.server.conftest import Bank, Customer, JsonLines, fast_settings

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def _code_step(bank: Bank, customer: Customer) -> None:
    code_step(bank, customer)
    bank.secrets_used.add(_cookie(bank))


def _log_in(bank: Bank, customer: Customer | None = None) -> Customer:
    customer = customer or bank.add_customer()
    password_step(bank, customer)
    _code_step(bank, customer)
    return customer


def _cookie(bank: Bank) -> str:
    value = bank.client.cookies.get("otp_session")
    assert value
    return value


def _opens(bank: Bank) -> bool:
    answer = bank.client.get("/portal/", follow_redirects=False)
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


def _row(bank: Bank, cookie: str) -> PortalSession:
    with bank.services.db.transaction() as session:
        return session.exec(
            select(PortalSession).where(
                PortalSession.id_hash == hashlib.sha256(cookie.encode()).hexdigest()
            )
        ).one()


def test_an_idle_session_ends_and_stays_ended(bank: Bank) -> None:
    _log_in(bank)
    cookie = _cookie(bank)
    for _ in range(3):  # in use: each request moves the idle limit
        bank.clock.advance(899)
        assert _opens(bank)
    bank.clock.advance(901)
    gone = bank.client.get("/portal/", follow_redirects=False)
    assert (gone.status_code, gone.headers["location"]) == (302, "/portal/login")
    assert 'otp_session=""' in gone.headers["set-cookie"]  # the browser forgets it
    row = _row(bank, cookie)
    assert (row.ended_reason, row.ended_at) == ("idle", bank.clock())
    bank.client.cookies.set("otp_session", cookie)  # the old id, sent again
    assert not _opens(bank)


def test_a_busy_session_ends_at_the_absolute_limit(bank: Bank) -> None:
    _log_in(bank)
    cookie = _cookie(bank)
    limit = bank.services.settings.portal_max_seconds
    assert limit == 8 * 3600  # today's value, kept
    started = _row(bank, cookie).authenticated_at
    assert started is not None
    while bank.clock() + 600 < started + limit:  # used every ten minutes, never idle
        bank.clock.advance(600)
        assert _opens(bank)
    bank.clock.now = started + limit
    assert _opens(bank)
    bank.clock.advance(1)
    assert not _opens(bank)
    assert _row(bank, cookie).ended_reason == "expired"


def test_the_login_waits_for_its_code_a_few_minutes_only(bank: Bank) -> None:
    alice = bank.add_customer()
    password_step(bank, alice)
    pending = _cookie(bank)
    assert not _opens(bank)  # a password alone opens nothing
    bank.clock.advance(CODE_SECONDS + 1)
    token = csrf_of(bank.client.get("/portal/login").text)
    late = bank.client.post(
        "/portal/login/code",
        follow_redirects=False,
        data={"code": alice.code(bank.clock()), "_csrf_token": token},
    )
    assert late.headers["location"] == "/portal/login"
    assert _row(bank, pending).ended_reason == "code_timeout"


def test_the_id_seen_before_the_code_opens_nothing_after_it(bank: Bank) -> None:
    alice = bank.add_customer()
    password_step(bank, alice)
    before = _cookie(bank)
    _code_step(bank, alice)
    after = _cookie(bank)
    assert after != before
    assert _opens(bank)
    bank.client.cookies.set("otp_session", before)
    assert not _opens(bank)
    assert bank.client.get("/portal/login/code", follow_redirects=False).status_code == 302


def test_the_database_keeps_only_a_hash_of_the_id(bank: Bank) -> None:
    _log_in(bank)
    cookie = _cookie(bank)
    assert len(cookie) == 43  # 256 random bits, base64url
    row = _row(bank, cookie)
    assert cookie not in json.dumps(row.model_dump())
    assert row.id_hash == hashlib.sha256(cookie.encode()).hexdigest()


def test_a_second_login_in_the_same_browser_ends_the_first_session(bank: Bank) -> None:
    alice = _log_in(bank)
    first = _cookie(bank)
    bank.clock.advance(60)
    _log_in(bank, alice)
    assert _row(bank, first).ended_reason == "new_login"


def _other_browser(bank: Bank, customer: Customer) -> str:
    """A session of `customer` opened from another browser; its cookie."""
    with bank.services.db.transaction() as session:
        row = bank.services.customers.get(session, customer.username)
    opened = bank.services.sessions.open(
        row, authenticated=True, user_agent=FIREFOX, address="198.51.100.7"
    )
    bank.secrets_used.add(opened.cookie)
    return opened.cookie


def _sessions_page(bank: Bank) -> str:
    answer = bank.client.get("/portal/sessions")
    assert answer.status_code == 200
    return answer.text


def test_the_sessions_page_lists_them_and_ends_another(bank: Bank) -> None:
    alice = _log_in(bank)
    mine = _cookie(bank)
    laptop = _other_browser(bank, alice)
    page = _sessions_page(bank)
    assert page.count("data-session=") == 2
    assert "Firefox · Linux" in page and "198.51.100.7" in page
    assert "Esta sesión" in page
    other = _row(bank, laptop).public_id
    assert other in page and _row(bank, mine).public_id in page
    ended = bank.client.post(
        "/portal/sessions/end",
        follow_redirects=False,
        data={"session": other, "_csrf_token": csrf_of(page)},
    )
    assert (ended.status_code, ended.headers["location"]) == (302, "/portal/sessions")
    assert _row(bank, laptop).ended_reason == "ended_by_customer"
    assert bank.services.sessions.current(laptop) is None
    assert _opens(bank)  # this one goes on
    again = bank.client.post(  # a second click on the same button
        "/portal/sessions/end",
        follow_redirects=False,
        data={"session": other, "_csrf_token": csrf_of(page)},
    )
    assert again.status_code == 302
    assert _sessions_page(bank).count("data-session=") == 1


def test_end_all_others_keeps_this_one_and_no_one_elses(bank: Bank) -> None:
    alice = _log_in(bank)
    others = [_other_browser(bank, alice) for _ in range(3)]
    stranger = _other_browser(bank, bank.add_customer())
    page = _sessions_page(bank)
    assert "Cerrar todas las demás" in page
    done = bank.client.post(
        "/portal/sessions/end-others",
        follow_redirects=False,
        data={"_csrf_token": csrf_of(page)},
    )
    assert done.status_code == 302
    assert [bank.services.sessions.current(c) for c in others] == [None] * 3
    assert bank.services.sessions.current(stranger) is not None
    assert _opens(bank)
    assert "No hay otras sesiones abiertas." in _sessions_page(bank)


@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        (None, 400, "La sesión indicada no es válida."),
        ("", 400, "La sesión indicada no es válida."),
        ("ses_XYZ'; drop table portal_sessions", 400, "La sesión indicada no es válida."),
        ("ses_" + "a" * 5000, 400, "La sesión indicada no es válida."),
        ("ses_0000000000000000", 404, "No tiene una sesión con ese nombre."),
        ("stranger", 404, "No tiene una sesión con ese nombre."),
        ("mine", 409, "Esa es la sesión que está usando: para cerrarla, salga."),
    ],
)
def test_bad_input_on_ending_a_session_loses_nothing(
    bank: Bank, value: str | None, status: int, message: str
) -> None:
    alice = _log_in(bank)
    laptop = _other_browser(bank, alice)
    stranger = _other_browser(bank, bank.add_customer())
    named = {
        "stranger": _row(bank, stranger).public_id,
        "mine": _row(bank, _cookie(bank)).public_id,
    }
    page = _sessions_page(bank)
    form = {"_csrf_token": csrf_of(page)}
    if value is not None:
        form["session"] = named.get(value, value)
    answer = bank.client.post("/portal/sessions/end", data=form)
    assert answer.status_code == status
    assert message in answer.text
    assert "text/html" in answer.headers["content-type"]
    for cookie in (laptop, stranger, _cookie(bank)):
        assert bank.services.sessions.current(cookie) is not None, "a session was lost"


@pytest.mark.parametrize("path", ["/portal/sessions/end", "/portal/sessions/end-others"])
def test_ending_sessions_needs_the_csrf_token(bank: Bank, path: str) -> None:
    alice = _log_in(bank)
    laptop = _other_browser(bank, alice)
    refused = bank.client.post(path, data={"session": _row(bank, laptop).public_id})
    assert refused.status_code == 403
    assert "El formulario caducó. Vuelva a cargar la página." in refused.text
    assert bank.services.sessions.current(laptop) is not None


def test_the_sessions_pages_need_a_login(bank: Bank) -> None:
    assert bank.client.get("/portal/sessions", follow_redirects=False).headers["location"] == (
        "/portal/login"
    )
    token = csrf_of(bank.client.get("/portal/login").text)
    for path in ("/portal/sessions/end", "/portal/sessions/end-others"):
        answer = bank.client.post(
            path, follow_redirects=False, data={"_csrf_token": token, "session": "x"}
        )
        assert answer.headers["location"] == "/portal/login"


def test_the_sessions_page_in_english(bank: Bank) -> None:
    _log_in(bank)
    page = bank.client.get("/portal/sessions?lang=en").text
    assert "Active sessions" in page and "This session" in page


def test_cookies_are_secure_with_the_host_prefix_by_default(
    hsm: Hsm, database_url: str, json_logs: JsonLines
) -> None:
    first = len(json_logs.lines)
    app = create_app(fast_settings(database_url, portal_insecure_cookies=False), hsm=hsm)
    assert not [line for line in json_logs.lines[first:] if "insecure_cookies" in line]
    services = app.state.services
    with services.db.transaction() as session:
        services.customers.add(session, "carla", "carla@example.com", "a long password 1", "C")
    with TestClient(app, base_url="https://bank.example") as client:
        page = client.get("/portal/login")
        csrf_cookie = page.headers["set-cookie"]
        assert csrf_cookie.startswith("__Host-otp_csrf=")
        assert "Secure" in csrf_cookie and "Path=/" in csrf_cookie
        assert "Domain" not in csrf_cookie and "HttpOnly" in csrf_cookie
        assert "SameSite=strict" in csrf_cookie
        assert page.headers["strict-transport-security"].startswith("max-age=")
        login = client.post(
            "/portal/login",
            follow_redirects=False,
            data={
                "username": "carla",
                "password": "a long password 1",
                "_csrf_token": csrf_of(page.text),
            },
        )
        session_cookie = login.headers["set-cookie"]
        assert session_cookie.startswith("__Host-otp_session=")
        assert "Secure" in session_cookie and "Path=/" in session_cookie
        assert "Domain" not in session_cookie and "HttpOnly" in session_cookie
        assert "SameSite=lax" in session_cookie
        assert client.get("/portal/", follow_redirects=False).status_code == 200
        assert "otp_session" not in client.cookies  # no cookie by the unprefixed name


def test_insecure_cookies_are_a_setting_the_server_warns_about(
    hsm: Hsm, database_url: str, json_logs: JsonLines
) -> None:
    first = len(json_logs.lines)
    app = create_app(fast_settings(database_url, portal_insecure_cookies=True), hsm=hsm)
    warned = [json.loads(line) for line in json_logs.lines[first:] if "insecure_cookies" in line]
    assert [(w["event"], w["level"]) for w in warned] == [("portal.insecure_cookies", "warning")]
    assert "never in production" in warned[0]["reason"]
    with TestClient(app) as client:
        cookie = client.get("/portal/login").headers["set-cookie"]
        assert cookie.startswith("otp_csrf=") and "Secure" not in cookie
