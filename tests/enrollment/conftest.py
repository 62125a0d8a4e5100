"""Enrollment fixtures: the app with a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient
from sqlmodel import func, select

from hsm import Hsm
from server.app import create_app
from server.db.models import Credential, Customer, Device
from server.domain.verification.purposes import Purpose
from server.services import Services
from tests.contract import OpenApiContract
from tests.enrollment.token_client import Provisioned, TokenClient
from tests.server.conftest import (  # noqa: F401 - fixtures used here
    FakeClock,
    JsonLines,
    assert_no_secret_in,
    database_url,
    fast_settings,
    json_logs,
    make_client_key,
)
from tests.server.processes import free_port


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 OK"

    def for_address(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def last_code(self, address: str, timeout: float = 5.0) -> str:
        """The newest code e-mailed to `address`."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not self.for_address(address):
                if not self._arrived.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"no e-mail reached {address}")
        body = self.for_address(address)[-1].get_content()
        match = re.search(r"(?<!\d)(\d{6,8})(?!\d)", body)
        assert match, body
        return match.group(1)


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # the test server logs DATA lines
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@dataclass
class Person:
    username: str
    email: str
    password: str


@dataclass
class Enrollment:
    """The app, its services, the clock, the mailbox, and a relying party key."""

    client: TestClient  # type: ignore[type-arg]
    services: Services
    clock: FakeClock
    inbox: Inbox
    api_key: str
    secrets_used: set[str] = field(default_factory=set)

    def customer(self, display_name: str = "Ana Pérez") -> Person:
        username = f"ana{secrets.token_hex(3)}"
        person = Person(username, f"{username}@example.com", secrets.token_urlsafe(12))
        self.secrets_used.add(person.password)
        with self.services.db.transaction() as session:
            self.services.customers.add(
                session, person.username, person.email, person.password, display_name
            )
        return person

    def token(self) -> TokenClient:
        token = TokenClient(self.client, clock=self.clock)
        token.first_contact()
        return token

    def portal_auth(self, person: Person) -> tuple[str, str]:
        return (person.username, person.password)

    def start(self, token: TokenClient, person: Person) -> tuple[str, str]:
        """Start a self-registration: its ID and the e-mailed code."""
        started = token.start_registration(person.username, person.password)
        assert started.status_code == 202, started.text
        code = self.inbox.last_code(person.email)
        self.secrets_used.add(code)
        return started.json()["registration_id"], code

    def register(self, token: TokenClient, person: Person):  # type: ignore[no-untyped-def]
        """The whole PaySecure flow; returns the Provisioned credential."""
        provisioned = token.provisioned(token.confirm(*self.start(token, person)))
        self._seeds_are_secrets(provisioned)
        return provisioned

    def _seeds_are_secrets(self, provisioned: Provisioned) -> None:
        """No log line may carry a seed of the bundle (the OCRA seed too)."""
        self.secrets_used.add(provisioned.seed.hex())
        if provisioned.ocra_seed is not None:
            self.secrets_used.add(provisioned.ocra_seed.hex())

    def activate(
        self,
        token: TokenClient,
        person: Person,  # type: ignore[no-untyped-def]
        approve_with: str | None = None,
    ):
        """The whole INVEX flow; returns the Provisioned credential. A customer who has a
        token already approves the new one with a code from it (`approve_with`)."""
        body = {"device_id": token.device_id, "token_kind": "emulator"}
        if approve_with is not None:
            body["code"] = approve_with
            self.secrets_used.add(approve_with)
        issued = self.client.post("/api/v1/activations", auth=self.portal_auth(person), json=body)
        assert issued.status_code == 201, issued.text
        code = issued.json()["activation_code"]
        self.secrets_used.add(code.replace(" ", ""))
        provisioned = token.provisioned(token.redeem(code))
        self._seeds_are_secrets(provisioned)
        return provisioned

    def verify(self, username: str, code: str) -> str:
        self.secrets_used.add(code)
        response = self.client.post(
            "/api/v1/verify",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={"username": username, "code": code, "purpose": "login"},
        )
        return str(response.json()["result"])

    def counts(self) -> dict[str, int]:
        with self.services.db.transaction() as session:
            return {
                str(table.__tablename__): session.exec(
                    select(func.count()).select_from(table)
                ).one()
                for table in (Credential, Device, Customer)
            }


@contextmanager
def _enrollment(
    hsm: Hsm, url: str, smtp: tuple[Controller, Inbox], logs: JsonLines
) -> Iterator[Enrollment]:
    controller, inbox = smtp
    clock = FakeClock(float(int(time.time())))
    settings = fast_settings(
        url,
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        smtp_security="none",
        issuer="Banco de Pruebas",
    )
    app = create_app(settings, hsm=hsm, clock=clock)
    services: Services = app.state.services
    key = make_client_key(services, "netbank", list(Purpose))
    first_line = len(logs.lines)
    with TestClient(app) as client:
        contract = OpenApiContract(client.get("/schema/openapi.json").json())
        client.event_hooks["response"] = [contract.check]
        the_enrollment = Enrollment(client, services, clock, inbox, key, {key})
        yield the_enrollment
    assert_no_secret_in(logs.lines[first_line:], the_enrollment.secrets_used)
    assert contract.violations == [], "answers the OpenAPI does not document"


@pytest.fixture
def enroll(
    hsm: Hsm,
    database_url: str,  # noqa: F811 - the fixture imported above
    smtp: tuple[Controller, Inbox],
    json_logs: JsonLines,  # noqa: F811 - the fixture imported above
) -> Iterator[Enrollment]:
    """The enrollment app on SoftHSM."""
    with _enrollment(hsm, database_url, smtp, json_logs) as the_enrollment:
        yield the_enrollment


@pytest.fixture
def nss_enroll(
    nss_hsm: Hsm,
    database_url: str,  # noqa: F811 - the fixture imported above
    smtp: tuple[Controller, Inbox],
    json_logs: JsonLines,  # noqa: F811 - the fixture imported above
) -> Iterator[Enrollment]:
    """The same app on NSS softokn, the second PKCS#11 implementation."""
    with _enrollment(nss_hsm, database_url, smtp, json_logs) as the_enrollment:
        yield the_enrollment
