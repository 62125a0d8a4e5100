"""A real bank on loopback for emulated tokens: the server as a uvicorn subprocess on a
migrated SQLite database and the session's SoftHSM token, a real SMTP server (aiosmtpd) in
this process, customers written straight into the database, and a relying party's API key.

`EmulatedToken` is one token: the same core as on the Pi, a `FileVault` in a temporary
directory (or a `TpmVault` on a software TPM of its own), the `HttpServerLink`, the system
clock, and a display that keeps every screen.
It is driven only through key presses, as a person would: letters by multi-tap (the cursor
key B fixes a letter before the next one on the same key), codes read from the screen.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from device_firmware.core import CodeScreen, Credential, Key, MessageScreen, Screen, Token
from device_firmware.core.device_id import DeviceId
from device_firmware.core.fakes import FakeDisplay
from device_firmware.core.state import ShowCode, ShowResponse, UserList, UserMenu
from device_firmware.core.text_entry import LETTERS
from device_firmware.emulator.software_tpm import SoftwareTpm
from device_firmware.link import HttpServerLink, PinnedKeyFile, ProvisioningTrust
from device_firmware.pi.clock import SystemClock
from device_firmware.vault import FileVault
from device_firmware.vault.tpm import Tpm
from device_firmware.vault.tpm_vault import TpmVault
from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.domain.verification.purposes import Purpose
from server.services import Services
from tests.conftest import SoftHsmTokens
from tests.device_firmware.vault_samples import TINY_COST
from tests.server.conftest import fast_settings, make_client_key
from tests.server.processes import free_port, server_env, server_process

PIN = "2580"
ISSUER = "Banco de Pruebas"
CODE_MARGIN = 5.0  # seconds: a code is read only this far from its step's end


class Inbox:
    """An aiosmtpd handler keeping every message; codes are read from the newest ones."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 OK"

    def count(self, address: str, subject: str) -> int:
        with self._arrived:
            return len(self._matching(address, subject))

    def _matching(self, address: str, subject: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address and subject in m["Subject"]]

    def wait(self, address: str, subject: str, after: int, timeout: float = 10.0) -> EmailMessage:
        """The first message to `address` with `subject` beyond the `after` already seen."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._matching(address, subject)) <= after:
                if not self._arrived.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"no e-mail {subject!r} reached {address}")
            return self._matching(address, subject)[after]


REGISTRATION_MAIL = "registration code"
NEW_TOKEN_MAIL = "new token"


@dataclass(frozen=True)
class Customer:
    """An online-banking customer: typeable on a keypad (lower case, digits, a dot)."""

    username: str
    password: str
    display_name: str

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


@dataclass
class Bank:
    """The running server, its mailbox, its customers, and what must never be logged."""

    url: str
    api_key: str
    inbox: Inbox
    customers: dict[str, Customer]
    secrets: set[str] = field(default_factory=set)
    provisioning_fingerprint: str = ""
    """What the bank publishes for tokens to be configured with (SHA-256 of its key)."""

    def verify(self, customer: Customer, code: str) -> str:
        """What the bank's login page gets from POST /api/v1/verify."""
        self.secrets.add(code)
        response = httpx.post(
            f"{self.url}/api/v1/verify",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={"username": customer.username, "code": code, "purpose": "login"},
            timeout=30,
        )
        return str(response.json()["result"])

    def approve_transfer(self, customer: Customer, response: str, amount: str, payee: str) -> str:
        """What the bank's transfer page gets from POST /api/v1/verify for a response the
        customer read off the token (docs/protocol.md §6.1)."""
        self.secrets.add(response)
        answer = httpx.post(
            f"{self.url}/api/v1/verify",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={
                "username": customer.username,
                "purpose": "transfer",
                "response": response,
                "transaction": {"amount": amount, "currency": "EUR", "payee": payee},
            },
            timeout=30,
        )
        return str(answer.json()["result"])

    def portal_activation(
        self, customer: Customer, typed_device_id: str, current_code: str | None = None
    ) -> tuple[str, str]:
        """The portal: log in, "Activate token", type the device ID (and a code from the
        customer's current token, when there is one); (activation id, code)."""
        body = {"device_id": typed_device_id, "token_kind": "emulator"}
        if current_code is not None:
            body["code"] = current_code
        response = httpx.post(
            f"{self.url}/api/v1/activations",
            auth=(customer.username, customer.password),
            json=body,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        issued = response.json()
        self.secrets.update({issued["activation_code"], issued["activation_code"].replace(" ", "")})
        return issued["activation_id"], issued["activation_code"]

    def activation_state(self, customer: Customer, activation_id: str) -> str:
        """What the portal polls until both screens say synchronised."""
        response = httpx.get(
            f"{self.url}/api/v1/activations/{activation_id}",
            auth=(customer.username, customer.password),
            timeout=30,
        )
        return str(response.json()["state"])


class EmulatedToken:
    """One token on the real bank, driven by key presses."""

    def __init__(self, directory: Path, bank: Bank, *, tpm: bool = False) -> None:
        self.bank = bank
        self.clock = SystemClock()
        self.tpm: SoftwareTpm | None = None
        self.vault: FileVault | TpmVault
        if tpm:
            self.tpm = SoftwareTpm(directory / "tpm-state")
            self.tpm.start()
            self.vault = TpmVault(directory / "sd-card", Tpm(self.tpm.tcti))
        else:
            self.vault = FileVault(directory, kdf_cost=TINY_COST)
        self.link = HttpServerLink(
            bank.url,
            token_key=self.vault.identity,
            pins=PinnedKeyFile(self.vault.directory),
            clock=self.clock,
            trust=ProvisioningTrust(fingerprint=bank.provisioning_fingerprint),
        )
        self.display = FakeDisplay()
        self.token = Token(display=self.display, clock=self.clock, vault=self.vault, link=self.link)
        self.token.start()

    @property
    def screen(self) -> Screen:
        return self.display.current

    def close(self) -> None:
        """Close the link; stop the token's software TPM, if it has one."""
        self.link.close()
        if self.tpm is not None:
            self.tpm.stop()

    def press(self, keys: str) -> None:
        for char in keys:
            self.token.handle(Key.parse(char))

    def type_text(self, text: str) -> None:
        """Multi-tap: each letter's key as often as needed; B fixes a letter when the next
        one is on the same key (no waiting for the timeout)."""
        for index, char in enumerate(text):
            key = next(k for k, letters in LETTERS.items() if char in letters)
            for _ in range(LETTERS[key].index(char) + 1):
                self.token.handle(key)
            following = text[index + 1 : index + 2]
            if following and following in LETTERS[key]:
                self.token.handle(Key.B)

    def credentials(self) -> dict[str, Credential]:
        """The unlocked vault's credentials by username (what the token holds now)."""
        data = self.token.state.session.data
        assert data is not None, "the vault is locked"
        return {c.username: c for c in data.credentials}

    def to_user_list(self) -> None:
        if isinstance(self.token.state.place, ShowResponse):  # a transfer's response
            self.press("#")
        if isinstance(self.token.state.place, ShowCode):
            self.press("C")
        if isinstance(self.token.state.place, UserMenu):  # a user whose credential signs
            self.press("C")
        assert isinstance(self.token.state.place, UserList)

    def add_user(self) -> None:
        """From the user list: "Agregar otro usuario"."""
        self.to_user_list()
        self.press(str(len(self.credentials()) + 1))

    def register(self, customer: Customer, *, first: bool) -> None:
        """Self-registration: username, password, the e-mailed code (then the PIN if first)."""
        seen = self.bank.inbox.count(customer.email, REGISTRATION_MAIL)
        self.press("1")  # "Registrarme con mi usuario"
        self.type_text(customer.username)
        self.press("#")
        self.type_text(customer.password)
        self.press("#")
        message = self.bank.inbox.wait(customer.email, REGISTRATION_MAIL, seen)
        found = re.search(r"(?<!\d)(\d{8})(?!\d)", message.get_content())
        assert found, "no code in the e-mail"
        self.bank.secrets.add(found.group(1))
        self.press(found.group(1) + "#")
        if first:
            self.press(f"{PIN}#{PIN}#")
        self._showing(customer)

    def activate(self, customer: Customer, *, first: bool, current_code: str | None = None) -> None:
        """Portal activation: read the device ID, play the portal, type its code."""
        self.press("2")  # "Activar con un código"
        typed = self.device_id_on_screen()
        activation_id, code = self.bank.portal_activation(customer, typed, current_code)
        self.press("#")
        self.press(code.replace(" ", "") + "#")
        screen = self.screen
        assert isinstance(screen, MessageScreen) and screen.title == "Sincronizado", screen
        assert self.bank.activation_state(customer, activation_id) == "completed"
        self.press("#")
        if first:
            self.press(f"{PIN}#{PIN}#")
        self._showing(customer)

    def device_id_on_screen(self) -> str:
        screen = self.screen
        assert isinstance(screen, MessageScreen), screen
        typed = next(p for p in screen.body if re.fullmatch(r"[\d ]{16,}", p))
        assert DeviceId(typed.replace(" ", "")) == self.token.state.session.device_id
        return typed

    def show_code_of(self, customer: Customer) -> None:
        self.to_user_list()
        names = list(self.credentials())
        self.press(str(names.index(customer.username) + 1))
        if isinstance(self.token.state.place, UserMenu):
            self.press("1")  # "Ver código"
        self._showing(customer)

    def current_code(self) -> tuple[str, float]:
        """The code on the screen and the bank time it is for (never at a step's end)."""
        screen = self.screen
        assert isinstance(screen, CodeScreen), screen
        data = self.token.state.session.data
        assert data is not None
        now = self.clock.now() + data.clock_offset
        left = screen.period - now % screen.period
        if left < CODE_MARGIN:
            time.sleep(left + 0.2)
        self.token.tick()
        screen = self.screen
        assert isinstance(screen, CodeScreen)
        code = screen.code.replace(" ", "")
        self.bank.secrets.add(code)
        return code, self.clock.now() + data.clock_offset

    def _showing(self, customer: Customer) -> None:
        assert isinstance(self.token.state.place, ShowCode), self.screen
        screen = self.screen
        assert isinstance(screen, CodeScreen) and screen.user == customer.display_name
        credential = self.credentials()[customer.username]
        self.bank.secrets.update({credential.seed.hex(), customer.password})
        if credential.ocra_seed is not None:  # once the bank sends one (protocol §6)
            self.bank.secrets.add(credential.ocra_seed.hex())


def _customer(display_name: str) -> Customer:
    first = display_name.split()[0].lower().replace("é", "e")
    return Customer(
        username=f"{first}{secrets.token_hex(2)}",
        password=f"clave.{secrets.token_hex(4)}",
        display_name=display_name,
    )


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback; its log (which shows the DATA) is kept quiet."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture(scope="module", params=["file-vault", "tpm-vault"])
def on_tpm(request: pytest.FixtureRequest) -> bool:
    """Every end-to-end test runs twice: tokens on the file vault, then on a TPM vault."""
    return bool(request.param == "tpm-vault")


@pytest.fixture(scope="module")
def bank(
    tokens: SoftHsmTokens,
    hsm: Hsm,
    tmp_path_factory: pytest.TempPathFactory,
    inbox: tuple[Inbox, int],
    on_tpm: bool,
) -> Iterator[Bank]:
    """The server in its own process, three customers, an API key; token logs checked.

    One bank per vault kind (`on_tpm`): each enrols its customers' tokens afresh."""
    mailbox, smtp_port = inbox
    directory = tmp_path_factory.mktemp("bank")
    url = f"sqlite:///{directory}/otp.sqlite3"
    upgrade(url)
    session_secret = secrets.token_hex(32)
    services: Services = create_app(
        fast_settings(url, session_secret=session_secret), hsm=hsm
    ).state.services
    api_key = make_client_key(
        services, f"netbank-{secrets.token_hex(3)}", [Purpose.LOGIN, Purpose.TRANSFER]
    )
    customers = {
        c.display_name: c
        for c in map(_customer, ("Ana Pérez", "Beto Ruiz", "Caro Díaz", "Dora Luz"))
    }
    with services.db.transaction() as session:
        for c in customers.values():
            services.customers.add(session, c.username, c.email, c.password, c.display_name)
    services.db.dispose()
    env = {
        **server_env(tokens, url),
        "OTP_SMTP_HOST": "127.0.0.1",
        "OTP_SMTP_PORT": str(smtp_port),
        "OTP_SMTP_SECURITY": "none",
        "OTP_ISSUER": ISSUER,
        "OTP_SESSION_SECRET": session_secret,
        "OTP_VAR_DIR": str(directory),
        "OTP_OUTBOX_DIR": str(directory / "outbox"),
    }
    logs = _TokenLogs()
    with logs, server_process(env) as base:
        _, point = hsm.provisioning_public_key()
        fingerprint = hashlib.sha256(point).hexdigest()
        the_bank = Bank(base, api_key, mailbox, customers, {api_key}, fingerprint)
        yield the_bank
    logs.assert_free_of(the_bank.secrets)


class _TokenLogs(logging.Handler):
    """Every log line of the token side (core, vault, link, httpx) while the bank runs."""

    LOGGERS = ("device_firmware", "httpx", "httpcore")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> _TokenLogs:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).removeHandler(self)
            logging.getLogger(name).setLevel(level)

    def assert_free_of(self, secrets_used: set[str]) -> None:
        assert any("provisioned" in line for line in self.lines), "nothing was logged"
        for secret in secrets_used:
            pattern = re.compile(rf"(?<![0-9a-f]){re.escape(secret)}(?![0-9a-f])")
            leaks = [line for line in self.lines if pattern.search(line)]
            assert leaks == [], f"a secret appears in {len(leaks)} token log line(s)"
