"""Portal rules checked over HTTP with an injected clock: throttling, session time-outs,
form checks, and every operation approved with its purpose in the audit."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select

from server.db.models import AuditEvent
from tests.server.conftest import Bank, Customer


def _csrf(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def _login(bank: Bank, username: str, password: str) -> object:
    token = _csrf(bank.client.get("/portal/login").text)
    return bank.client.post(
        "/portal/login",
        follow_redirects=False,
        data={"username": username, "password": password, "_csrf_token": token},
    )


def _logged_in(bank: Bank) -> Customer:
    alice = bank.add_customer()
    answer = _login(bank, alice.username, alice.password)
    assert answer.headers["location"] == "/portal/login/code"  # type: ignore[attr-defined]
    token = _csrf(bank.client.get("/portal/login/code").text)
    code = alice.code(bank.clock())
    bank.secrets_used.add(code)
    done = bank.client.post(
        "/portal/login/code", follow_redirects=False, data={"code": code, "_csrf_token": token}
    )
    assert done.headers["location"] == "/portal/"
    bank.clock.advance(60)  # the next operation needs the next code
    return alice


def test_password_failures_are_throttled(bank: Bank) -> None:
    alice = bank.add_customer()
    for _ in range(10):
        assert _login(bank, alice.username, "wrong password").status_code == 401  # type: ignore[attr-defined]
    throttled = _login(bank, alice.username, alice.password)
    assert throttled.status_code == 429  # type: ignore[attr-defined]
    assert "Demasiados intentos" in throttled.text  # type: ignore[attr-defined]
    bank.clock.advance(900)
    assert _login(bank, alice.username, alice.password).status_code == 302  # type: ignore[attr-defined]


def test_idle_session_ends(bank: Bank) -> None:
    _logged_in(bank)
    assert bank.client.get("/portal/", follow_redirects=False).status_code == 200
    bank.clock.advance(901)
    gone = bank.client.get("/portal/", follow_redirects=False)
    assert (gone.status_code, gone.headers["location"]) == (302, "/portal/login")


def test_logout(bank: Bank) -> None:
    _logged_in(bank)
    token = _csrf(bank.client.get("/portal/").text)
    bank.client.post("/portal/logout", data={"_csrf_token": token})
    assert bank.client.get("/portal/", follow_redirects=False).status_code == 302


def test_code_step_must_follow_the_password_quickly(bank: Bank) -> None:
    alice = bank.add_customer()
    _login(bank, alice.username, alice.password)
    token = _csrf(bank.client.get("/portal/login/code").text)
    bank.clock.advance(301)
    late = bank.client.post(
        "/portal/login/code",
        follow_redirects=False,
        data={"code": alice.code(bank.clock()), "_csrf_token": token},
    )
    assert late.headers["location"] == "/portal/login"


@pytest.mark.parametrize(
    ("slug", "fields", "purpose"),
    [
        ("transfer", {"amount": "99.90", "account": "1234567890", "concept": "Luz"}, "transfer"),
        ("statement", {"month": "2026-10"}, "statement"),
        ("limits", {"daily_limit": "5000"}, "limits"),
        ("notification", {"medium": "sms", "destination": "+52 55 1234 5678"}, "notification"),
        ("new_keys", {"confirm": "yes"}, "new_keys"),
    ],
)
def test_each_operation_is_approved_with_its_purpose(
    bank: Bank,
    slug: str,
    fields: dict[str, str],
    purpose: str,
) -> None:
    alice = _logged_in(bank)
    token = _csrf(bank.client.get(f"/portal/operations/{slug}").text)
    code = alice.code(bank.clock())
    bank.secrets_used.add(code)
    answer = bank.client.post(
        f"/portal/operations/{slug}", data={**fields, "code": code, "_csrf_token": token}
    )
    assert answer.status_code == 200, answer.text
    assert "Operación aprobada" in answer.text
    with bank.services.db.transaction() as session:
        event = session.exec(
            select(AuditEvent)
            .where(AuditEvent.subject == alice.username)
            .where(AuditEvent.purpose == purpose)
        ).one()
    assert event.result == "accepted"
    assert event.actor == "client:portal"
    assert json.loads(event.details)["transaction"] == {
        k: (f"{float(v):.2f}" if k in ("amount", "daily_limit") else v) for k, v in fields.items()
    }


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"amount": "-5", "account": "1234567890", "concept": "x"}, "Importe"),
        ({"amount": "NaN", "account": "1234567890", "concept": "x"}, "Importe"),
        ({"amount": "Infinity", "account": "1234567890", "concept": "x"}, "Importe"),
        ({"amount": "10.999", "account": "1234567890", "concept": "x"}, "Importe"),
        ({"amount": "10", "account": "12ab", "concept": "x"}, "Cuenta destino"),
        ({"amount": "10", "account": "1234567890", "concept": "<script>"}, "Concepto"),
    ],
)
def test_operation_fields_are_checked_before_the_code(
    bank: Bank,
    fields: dict[str, str],
    bad: str,
) -> None:
    alice = _logged_in(bank)
    token = _csrf(bank.client.get("/portal/operations/transfer").text)
    code = alice.code(bank.clock())
    answer = bank.client.post(
        "/portal/operations/transfer", data={**fields, "code": code, "_csrf_token": token}
    )
    assert answer.status_code == 400
    assert f"Revise el campo «{bad}»" in answer.text
    assert "<script>" not in answer.text.split("</header>")[1].replace("&lt;script&gt;", "")
    # the code was not spent on a refused form
    with bank.services.db.transaction() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.purpose == "transfer")).all() == []


def test_pages_need_a_login_and_carry_security_headers(bank: Bank) -> None:
    for path in (
        "/portal/",
        "/portal/activate",
        "/portal/operations",
        "/portal/operations/transfer",
    ):
        answer = bank.client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (302, "/portal/login"), path
    bank.client.cookies.clear()
    page = bank.client.get("/portal/login")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers.get("set-cookie", "")
    assert "HttpOnly" in cookie


def test_only_portal_pages_get_the_session_and_csrf_cookies(bank: Bank) -> None:
    """Sessions and CSRF protection wrap the portal's pages, not the APIs or probes."""
    bank.client.cookies.clear()
    page = bank.client.get("/portal/login")
    assert "otp_csrf=" in page.headers.get("set-cookie", "")
    bank.client.cookies.clear()
    alice = bank.add_customer()
    status, _ = bank.verify(alice.username, alice.code(bank.clock()))
    assert status == 200
    for path in ("/health/live", "/metrics", "/schema/openapi.json", "/"):
        answer = bank.client.get(path, follow_redirects=False)
        assert answer.status_code in (200, 302), path
        assert "set-cookie" not in answer.headers, path
    assert not bank.client.cookies


def test_an_unknown_portal_page_is_a_404_page(bank: Bank) -> None:
    answer = bank.client.get("/portal/does-not-exist")
    assert answer.status_code == 404
    assert "text/html" in answer.headers["content-type"]
    assert answer.headers["x-frame-options"] == "DENY"


def test_error_pages_carry_the_security_headers(bank: Bank) -> None:
    refused = bank.client.post("/portal/login", data={"username": "x", "password": "y"})
    assert refused.status_code == 403
    assert refused.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in refused.headers["content-security-policy"]


def test_hsts_only_when_served_over_tls(hsm: object, database_url: str) -> None:
    from litestar.testing import TestClient

    from server.app import create_app
    from tests.server.conftest import fast_settings

    for insecure, expected in ((True, None), (False, "max-age=31536000; includeSubDomains")):
        settings = fast_settings(database_url, portal_insecure_cookies=insecure)
        app = create_app(settings, hsm=hsm)  # type: ignore[arg-type]
        with TestClient(app) as client:
            assert client.get("/portal/login").headers.get("strict-transport-security") == (
                expected
            )
