"""The customer portal in a real browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.enrollment.token_client import TokenClient
from tests.portal.conftest import Portal, http

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/portal/login")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Ingresar").click()


def test_activation_wizard_until_synchronised(page: Page, portal: Portal) -> None:
    username, password, _ = portal.customer(with_token=False)
    log_in(page, username, password)
    expect(page.get_by_text("Aún no tiene un token activo")).to_be_visible()
    portal.shot(page, "home")
    page.get_by_role("link", name="Activar token").first.click()
    token = TokenClient(http(portal))
    token.first_contact()
    page.get_by_label("Emulador").check()
    grouped = " ".join(token.device_id[i : i + 4] for i in range(0, 16, 4))
    page.get_by_label("ID del dispositivo").fill(grouped)
    expect(page.locator("#device-id-check")).to_have_text("El ID parece correcto.")
    portal.shot(page, "activate")
    page.get_by_role("button", name="Generar código de activación").click()
    code = page.locator("#activation-code").inner_text()
    assert len(code.replace(" ", "")) == 10
    expect(page.locator("#status")).to_have_text("Esperando a su token…")
    expect(page.locator("#countdown")).not_to_have_text("10:00")  # the countdown runs
    portal.shot(page, "activation-code")
    provisioned = token.provisioned(token.redeem(code))  # the token redeems while we wait
    expect(page.locator("#status")).to_have_text("Su token quedó sincronizado.")
    portal.shot(page, "synchronised")
    # the freshly provisioned token now guards the login
    page.get_by_role("button", name="Salir").click()
    log_in(page, username, password)
    expect(page).to_have_url(f"{portal.base}/portal/login/code")
    page.get_by_label("Código").fill(provisioned.totp().now())
    page.get_by_role("button", name="Continuar").click()
    expect(page.get_by_text("está activo")).to_be_visible()


def test_device_id_typo_is_caught_as_you_type_and_on_submit(page: Page, portal: Portal) -> None:
    username, password, _ = portal.customer(with_token=False)
    log_in(page, username, password)
    page.goto("/portal/activate")
    good = TokenClient(http(portal)).device_id
    typo = good[:5] + str((int(good[5]) + 1) % 10) + good[6:]
    page.get_by_label("ID del dispositivo").fill(typo)
    expect(page.locator("#device-id-check")).to_have_text(
        "El ID del dispositivo no es correcto: revise los 16 dígitos."
    )
    page.get_by_role("button", name="Generar código de activación").click()
    expect(page).to_have_url(f"{portal.base}/portal/activate")  # the browser did not submit
    # the server checks too, when the browser check is bypassed
    page.evaluate("document.getElementById('device-id').setCustomValidity('')")
    page.evaluate("document.getElementById('activate-form').submit()")
    expect(page.locator("#server-error")).to_contain_text("no es correcto")


def test_login_with_code_then_transfer_approved_refused_and_replayed(
    page: Page, portal: Portal
) -> None:
    username, password, totp = portal.customer(with_token=True)
    assert totp is not None
    log_in(page, username, password)
    portal.shot(page, "code")
    page.get_by_label("Código").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Continuar").click()
    expect(page.get_by_role("alert")).to_have_text("El código no es correcto.")
    page.get_by_label("Código").fill(totp.now())
    page.get_by_role("button", name="Continuar").click()
    expect(page.get_by_text("está activo")).to_be_visible()

    def transfer(code: str) -> None:
        page.goto("/portal/operations/transfer")
        page.get_by_label("Importe").fill("1250.50")
        page.get_by_label("Cuenta destino").fill("012345678901234567")
        page.get_by_label("Concepto").fill("Renta diciembre")
        page.get_by_label("Código").fill(code)

    # the next code (the login used this step's), computed once: a minute may turn
    # between here and the replay below
    fresh = totp.at(time.time() + 60)
    transfer(fresh)
    portal.shot(page, "transfer")
    page.get_by_role("button", name="Aprobar con código").click()
    expect(page.locator("#result")).to_have_text("Operación aprobada")
    assert page.locator("#reference").inner_text().startswith("TRA-")
    portal.shot(page, "approved")
    transfer(fresh)  # the same code again
    page.get_by_role("button", name="Aprobar con código").click()
    expect(page.locator("#result")).to_have_text("Operación no aprobada: El código no es correcto.")
    transfer("123456" if fresh != "123456" else "654321")
    page.get_by_role("button", name="Aprobar con código").click()
    expect(page.locator("#result")).to_contain_text("Operación no aprobada")


def test_missing_csrf_token_is_refused(page: Page, portal: Portal) -> None:
    username, password, _ = portal.customer(with_token=False)
    page.goto("/portal/login")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(password)
    page.evaluate("document.querySelector('input[name=_csrf_token]').remove()")
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("alert")).to_have_text(
        "El formulario caducó. Vuelva a cargar la página."
    )
    expect(page.get_by_role("heading")).to_have_text("403")


def test_both_languages_render(browser: Browser, portal: Portal) -> None:
    context = browser.new_context(base_url=portal.base, locale="en-US")
    page = context.new_page()
    page.goto("/portal/login")  # the browser's language: English
    expect(page.get_by_role("heading")).to_have_text("Customer access")
    page.get_by_role("link", name="Español").click()
    expect(page.get_by_role("heading")).to_have_text("Acceso a clientes")
    page.goto("/portal/login")  # the choice is remembered
    expect(page.get_by_role("heading")).to_have_text("Acceso a clientes")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_label("Password")).to_be_visible()
    context.close()


def test_phone_width_renders_without_horizontal_scroll(browser: Browser, portal: Portal) -> None:
    context = browser.new_context(
        base_url=portal.base, locale="es-ES", viewport={"width": 375, "height": 740}, is_mobile=True
    )
    page = context.new_page()
    page.goto("/portal/login")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    portal.shot(page, "login-phone")
    context.close()
