"""The "active sessions" page in a real browser (Debian's chromium driven by Playwright):
a customer on a laptop ends the session left open on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.portal.conftest import Portal

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not


def _log_in(page: Page, username: str, password: str) -> None:
    page.goto("/portal/login")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_text("Aún no tiene un token activo")).to_be_visible()


def test_ending_the_session_left_open_on_a_phone(browser: Browser, portal: Portal) -> None:
    username, password, _ = portal.customer(with_token=False)
    phone_context = browser.new_context(
        base_url=portal.base, locale="es-ES", viewport={"width": 375, "height": 740}, is_mobile=True
    )
    laptop_context = browser.new_context(
        base_url=portal.base, locale="es-ES", viewport={"width": 1100, "height": 760}
    )
    phone, laptop = phone_context.new_page(), laptop_context.new_page()
    for page in (phone, laptop):
        page.set_default_timeout(15_000)
        _log_in(page, username, password)

    laptop.get_by_role("link", name="Sesiones").click()
    expect(laptop.get_by_role("heading")).to_have_text("Sesiones activas")
    sessions = laptop.locator("li.session")
    expect(sessions).to_have_count(2)
    expect(laptop.locator("li.session.current")).to_contain_text("Esta sesión")
    expect(laptop.locator("li.session.current")).to_contain_text("127.0.0.1")
    portal.shot(laptop, "sessions")
    laptop.locator("li.session:not(.current)").get_by_role("button", name="Cerrar").click()
    expect(laptop).to_have_url(f"{portal.base}/portal/sessions")
    expect(sessions).to_have_count(1)
    expect(laptop.get_by_text("No hay otras sesiones abiertas.")).to_be_visible()

    phone.reload()  # the phone's next request is refused
    expect(phone).to_have_url(f"{portal.base}/portal/login")
    expect(phone.get_by_role("heading")).to_have_text("Acceso a clientes")
    laptop.goto("/portal/")  # the laptop's session goes on
    expect(laptop.get_by_text("Aún no tiene un token activo")).to_be_visible()
    phone_context.close()
    laptop_context.close()


def test_the_sessions_page_fits_a_phone(browser: Browser, portal: Portal) -> None:
    username, password, _ = portal.customer(with_token=False)
    context = browser.new_context(
        base_url=portal.base, locale="en-US", viewport={"width": 375, "height": 740}, is_mobile=True
    )
    page = context.new_page()
    page.goto("/portal/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.goto("/portal/sessions")
    expect(page.get_by_role("heading")).to_have_text("Active sessions")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    context.close()
