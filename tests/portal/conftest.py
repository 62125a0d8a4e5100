"""Portal fixtures: a real server process on loopback and Debian's chromium via Playwright."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.domain.credentials.rules import SeedImport
from server.services import Services
from tests.conftest import SoftHsmTokens
from tests.server.conftest import (  # noqa: F401 - fixtures for test_pages
    bank,
    database_url,
    fast_settings,
    json_logs,
)
from tests.server.processes import server_env, server_process

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class Portal:
    """The running server, its database (seen from the test process) and screenshots."""

    base: str
    services: Services
    screens: Path | None

    def customer(self, *, with_token: bool) -> tuple[str, str, pyotp.TOTP | None]:
        username = f"cli{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(10)
        totp = None
        with self.services.db.transaction() as session:
            customer = self.services.customers.add(
                session, username, f"{username}@example.com", password, "Lucía Gómez"
            )
            if with_token:
                seed = secrets.token_bytes(20)
                self.services.credentials.import_seed(
                    session, customer, SeedImport(seed=seed), "test"
                )
                totp = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)
        return username, password, totp

    def shot(self, page: Page, name: str) -> None:
        """Save a screenshot for the docs when PORTAL_SCREENS names a directory."""
        if self.screens is not None:
            page.screenshot(path=str(self.screens / f"portal-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def portal(
    hsm: Hsm, tokens: SoftHsmTokens, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portal]:
    tmp = tmp_path_factory.mktemp("portal")
    url = f"sqlite:///{tmp}/portal.sqlite3"
    upgrade(url)
    key = secrets.token_hex(32)
    services: Services = create_app(fast_settings(url, session_secret=key), hsm=hsm).state.services
    env = {
        **server_env(tokens, url),
        "OTP_SESSION_SECRET": key,
        "OTP_PORTAL_INSECURE_COOKIES": "true",  # plain HTTP on loopback, as `make run`
        "OTP_OUTBOX_DIR": str(tmp / "outbox"),
        "OTP_ISSUER": "Banco Demo",
    }
    screens = os.environ.get("PORTAL_SCREENS")
    if screens:
        Path(screens).mkdir(parents=True, exist_ok=True)
    with server_process(env) as base:
        yield Portal(base, services, Path(screens) if screens else None)
    services.db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module: Playwright's sync API keeps an event loop running in this
    thread while it is open, which would break later tests that call asyncio.run()."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, portal: Portal) -> Iterator[Page]:
    context = browser.new_context(
        base_url=portal.base, locale="es-ES", viewport={"width": 1100, "height": 760}
    )
    the_page = context.new_page()
    the_page.set_default_timeout(15_000)
    yield the_page
    context.close()


def http(portal: Portal) -> httpx.Client:
    return httpx.Client(base_url=portal.base, timeout=10)
