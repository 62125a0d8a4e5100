"""Issue 20, sessions: a portal cookie copied off a customer's machine must stop working the
moment the customer logs out, the token is revoked, or an officer ends the sessions.

Over HTTP against a real server process (real SoftHSM token, SMTP on loopback through
aiosmtpd), the officer's commands run as `otp-admin` processes."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.db.models import AuditEvent, PortalSession
from server.services import Services
from tests.conftest import SoftHsmTokens
from tests.enrollment.conftest import Inbox
from tests.enrollment.token_client import TokenClient
from tests.portal.conftest import Portal
from tests.portal.visitor import Visitor
from tests.server.conftest import fast_settings
from tests.server.processes import free_port, server_env, server_process

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not


@dataclass
class Site:
    """The running server, its database seen from the test, its mailbox, `otp-admin`."""

    portal: Portal
    inbox: Inbox
    env: dict[str, str]

    def admin(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "server.cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        if ok:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def visitor(self, cookies: httpx.Cookies | None = None) -> Visitor:
        return Visitor(self.portal.base, cookies)


@pytest.fixture(scope="module")
def site(
    hsm: Hsm, tokens: SoftHsmTokens, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("sessions")
    url = f"sqlite:///{tmp}/portal.sqlite3"
    upgrade(url)
    key = secrets.token_hex(32)
    services: Services = create_app(fast_settings(url, session_secret=key), hsm=hsm).state.services
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = {
        **server_env(tokens, url),
        "OTP_SESSION_SECRET": key,
        "OTP_PORTAL_INSECURE_COOKIES": "true",  # plain HTTP on loopback, as `make run`
        "OTP_SMTP_HOST": "127.0.0.1",
        "OTP_SMTP_PORT": str(smtp.port),
        "OTP_SMTP_SECURITY": "none",
    }
    try:
        with server_process(env) as base:
            yield Site(Portal(base, services, None), inbox, env)
    finally:
        smtp.stop()
        services.db.dispose()


def _mail_to(inbox: Inbox, address: str, seconds: float = 10.0) -> list[object]:
    deadline = time.monotonic() + seconds
    while not inbox.for_address(address) and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(inbox.for_address(address))


def test_a_cookie_copied_before_logout_opens_nothing_after_it(site: Site) -> None:
    username, password, totp = site.portal.customer(with_token=True)
    assert totp is not None
    customer = site.visitor()
    customer.log_in(username, password, totp.now)
    copied = customer.copy_of_cookies()
    thief = site.visitor(copied)
    assert thief.opens_portal()  # the copy works while the customer is logged in
    customer.log_out()
    assert not thief.opens_portal()
    assert thief.http.get("/portal/operations/transfer").headers["location"] == "/portal/login"
    # logging out with the copy ends nothing and breaks nothing
    assert site.visitor(copied).post("/portal/logout", page="/portal/login").status_code == 302
    assert not site.visitor(copied).opens_portal()


def test_revoking_the_device_ends_the_sessions_it_opened(site: Site) -> None:
    username, password, old_totp = site.portal.customer(with_token=True)
    assert old_totp is not None
    customer = site.visitor()
    customer.log_in(username, password, old_totp.now)
    # the customer replaces the token in the portal, approved with a code of the old one
    # (the next step's: the login spent this one); the notice goes out by SMTP
    token = TokenClient(httpx.Client(base_url=site.portal.base, timeout=30))
    token.first_contact()
    shown = customer.post(
        "/portal/activate",
        {
            "device_id": token.device_id,
            "token_kind": "emulator",
            "code": old_totp.at(time.time() + 60),
        },
        page="/portal/activate",
    )
    code = re.search(r'id="activation-code">([0-9 ]+)<', shown.text)
    assert code, shown.text
    totp = token.provisioned(token.redeem(code.group(1))).totp()
    assert _mail_to(site.inbox, f"{username}@example.com"), "no notice of the new token"
    copied = customer.copy_of_cookies()
    # a second session, opened with the new token's code
    other = site.visitor()
    other.log_in(username, password, lambda: totp.now())
    thief = site.visitor(copied)
    assert thief.opens_portal()

    revoked = site.admin("device", "revoke", token.device_id)
    assert "credentials revoked: 1" in revoked.stdout
    assert not thief.opens_portal()
    assert not customer.opens_portal()
    assert not other.opens_portal()
    with site.portal.services.db.transaction() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "device.revoke")).all()[
            -1
        ]
    assert '"sessions_ended":2' in event.details.replace(" ", "")


def test_revoking_a_credential_ends_the_customers_sessions(site: Site) -> None:
    username, password, totp = site.portal.customer(with_token=True)
    assert totp is not None
    customer = site.visitor()
    customer.log_in(username, password, totp.now)
    thief = site.visitor(customer.copy_of_cookies())
    listed = site.admin("credential", "list", "--username", username).stdout
    credential_id = listed.split()[0]
    revoked = site.admin("credential", "revoke", credential_id).stdout
    assert "portal sessions ended: 1" in revoked
    assert not thief.opens_portal()


def test_an_officer_ends_one_customers_sessions(site: Site) -> None:
    username, password, _ = site.portal.customer(with_token=False)
    bystander, bystander_password, _ = site.portal.customer(with_token=False)
    laptop, phone, unrelated = site.visitor(), site.visitor(), site.visitor()
    laptop.log_in(username, password)
    phone.log_in(username, password)
    unrelated.log_in(bystander, bystander_password)
    thief = site.visitor(laptop.copy_of_cookies())

    listed = site.admin("session", "list", username).stdout
    assert len(listed.strip().splitlines()) == 2
    assert "ses_" in listed and "127.0.0.1" in listed and "python-httpx" not in listed
    ended = site.admin("session", "end", "--customer", username.upper()).stdout
    assert f"portal sessions ended ({username!r}): 2" in ended
    assert not thief.opens_portal()
    assert not laptop.opens_portal()
    assert not phone.opens_portal()
    assert unrelated.opens_portal()  # another customer's session stays
    assert site.admin("session", "list", username).stdout.strip() == "no open sessions"
    with site.portal.services.db.transaction() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "session.end")).all()[-1]
        reasons = {
            row.ended_reason
            for row in session.exec(select(PortalSession)).all()
            if row.ended_at is not None
        }
    assert (event.subject, event.result, event.actor.startswith("officer:")) == (
        username,
        "ok",
        True,
    )
    assert "ended_by_officer" in reasons
    # the customer logs in again: a fresh session works
    laptop.log_in(username, password)


def test_an_officer_ends_every_session(site: Site) -> None:
    one, one_password, _ = site.portal.customer(with_token=False)
    two, two_password, _ = site.portal.customer(with_token=False)
    first, second = site.visitor(), site.visitor()
    first.log_in(one, one_password)
    second.log_in(two, two_password)
    ended = site.admin("session", "end", "--all").stdout
    assert "portal sessions ended (every customer): " in ended
    assert not first.opens_portal()
    assert not second.opens_portal()


def test_the_officer_command_says_what_it_needs(site: Site) -> None:
    helped = site.admin("session", "end", "--help").stdout
    assert "--customer" in helped and "--all" in helped
    assert "Usage:" in site.admin("session", "--help").stdout
    neither = site.admin("session", "end", ok=False)
    assert neither.returncode == 2 and "give either --customer USER or --all" in neither.stderr
    both = site.admin("session", "end", "--customer", "x", "--all", ok=False)
    assert both.returncode == 2 and "give either" in both.stderr
    nobody = site.admin("session", "end", "--customer", "nobody-here", ok=False)
    assert nobody.returncode == 1 and "no customer 'nobody-here'" in nobody.stderr
