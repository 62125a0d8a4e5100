"""Server fixtures: a migrated SQLite database per test, an app with a controllable clock."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyotp
import pytest
from litestar.testing import TestClient

from hsm import Algorithm, Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.db.models import Credential, CredentialKind
from server.domain.credentials.rules import SeedImport
from server.domain.verification.purposes import Purpose
from server.domain.verification.transfers import SUITE
from server.logging import configure_logging
from server.services import Services
from server.settings import Settings
from tests.conftest import SOFTHSM_ACCEPTED
from tests.contract import OpenApiContract
from tests.oracles import oath_ocra
from tests.server.processes import PostgresCluster

START = 1_800_000_000.0  # a Unix time on a step boundary of 60 s


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fast_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: cheap Argon2, everything else as in production."""
    values: dict[str, object] = {
        "database_url": database_url,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "session_secret": secrets.token_hex(32),
        "hsm_accept_weaknesses": ",".join(SOFTHSM_ACCEPTED),
        # the test client speaks plain HTTP: a Secure cookie would never come back
        "portal_insecure_cookies": True,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Customer:
    """A test customer with one credential and the seed to compute its codes."""

    username: str
    password: str
    seed: bytes
    credential_id: str
    totp: pyotp.TOTP

    def code(self, at: float) -> str:
        return self.totp.at(at)


@dataclass
class Signer(Customer):
    """A customer whose token signs transfers: the OCRA seed, and its responses computed
    by python-oath (an implementation of its own), never by the product's code."""

    ocra_seed: bytes = b""

    def sign(self, amount: str, payee: str, at: float) -> str:
        """The response the token shows for this transfer at `at` (docs/protocol.md §6)."""
        cents = int(Decimal(amount) * 100)
        reference = re.sub(r"[\s-]", "", payee)[-8:]  # the protocol's rule, written again
        question = f"{cents:012d}{reference}"
        return oath_ocra(SUITE, self.ocra_seed, question, time_step=int(at // 60))


@dataclass(frozen=True)
class VendorToken:
    """A customer whose only token is an imported OCRA one (`Bank.add_vendor_token`)."""

    username: str
    password: str
    seed: bytes

    def answer(self, question: str, at: float) -> str:
        """The token's response to `question` at `at`, as python-oath computes it."""
        return oath_ocra(SUITE, self.seed, question, time_step=int(at // 60))


@dataclass
class Bank:
    """A running app (in-process), its services, a clock, and a relying party key."""

    client: TestClient  # type: ignore[type-arg]
    services: Services
    clock: FakeClock
    api_key: str
    secrets_used: set[str] = field(default_factory=set)
    contract: OpenApiContract | None = None
    """Checks every answer against the OpenAPI; the fixture fails the test on a violation."""

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def verify(
        self, username: str, code: str, purpose: str = "login", **extra: object
    ) -> tuple[int, dict]:  # type: ignore[type-arg]
        self.secrets_used.add(code)
        response = self.client.post(
            "/api/v1/verify",
            headers=self.headers(),
            json={"username": username, "code": code, "purpose": purpose, **extra},
        )
        return response.status_code, response.json()

    def add_customer(
        self,
        *,
        kind: CredentialKind = CredentialKind.TOTP,
        algorithm: Algorithm = Algorithm.SHA1,
        digits: int = 6,
        period: int = 60,
        counter: int = 0,
    ) -> Customer:
        username = f"cust{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        seed = secrets.token_bytes(algorithm.seed_length)
        self.secrets_used.update({password, seed.hex(), base64.b32encode(seed).decode()})
        with self.services.db.transaction() as session:
            customer = self.services.customers.add(
                session, username, f"{username}@example.com", password, "Test Customer"
            )
            credential = self.services.credentials.import_seed(
                session,
                customer,
                SeedImport(
                    seed=seed,
                    kind=kind,
                    algorithm=algorithm,
                    digits=digits,
                    period=period,
                    counter=counter,
                ),
                actor="test",
            )
        digest = algorithm.value.lower()
        totp = pyotp.TOTP(
            base64.b32encode(seed).decode(), digits=digits, interval=period, digest=digest
        )
        return Customer(username, password, seed, credential.public_id, totp)

    def add_signer(self, **kind: object) -> Signer:
        """A customer whose credential also has an OCRA seed (as an enrollment gives it:
        imported here so the test knows it), to sign transfers with."""
        customer = self.add_customer(**kind)  # type: ignore[arg-type]
        seed = secrets.token_bytes(32)
        self.secrets_used.update({seed.hex(), base64.b32encode(seed).decode()})
        stored = self.services.hsm.import_seed(seed, Algorithm.SHA256)
        with self.services.db.transaction() as session:
            credential = self.services.credentials.get(session, customer.credential_id)[0]
            assert stored.kek_version == credential.kek_version
            credential.ocra_suite = SUITE
            credential.ocra_wrapped_seed = stored.blob
            credential.ocra_seed_length = stored.length
            session.add(credential)
        return Signer(**vars(customer), ocra_seed=seed)

    def add_vendor_token(self, drift: int = 0) -> VendorToken:
        """A customer with a hardware token imported from a vendor's PSKC file with an OCRA
        key only, stored as `otp-admin pskc import` stores it (kind `ocra`, the one seed in
        both columns, the file's TimeDrift in steps): it gives no codes, only responses."""
        seed = secrets.token_bytes(32)
        username, password = f"vendor{secrets.token_hex(3)}", secrets.token_urlsafe(12)
        self.secrets_used.update({seed.hex(), password})
        stored = self.services.hsm.import_seed(seed, Algorithm.SHA256)
        now = self.clock()
        with self.services.db.transaction() as session:
            customer = self.services.customers.add(
                session, username, f"{username}@example.com", password, "Vendor Token"
            )
            session.add(
                Credential(
                    public_id=f"cred_{secrets.token_hex(10)}",
                    customer_id=customer.id or 0,
                    kind=CredentialKind.OCRA,
                    serial=f"VND-{secrets.token_hex(3)}",
                    wrapped_seed=stored.blob,
                    kek_version=stored.kek_version,
                    seed_length=stored.length,
                    algorithm="SHA256",
                    digits=8,
                    period=60,
                    drift=drift,
                    ocra_suite=SUITE,
                    ocra_wrapped_seed=stored.blob,
                    ocra_seed_length=stored.length,
                    created_at=now,
                    updated_at=now,
                )
            )
        return VendorToken(username, password, seed)

    def verify_transfer(
        self,
        username: str,
        response: str,
        amount: str,
        payee: str,
        currency: str = "EUR",
        key: str | None = None,
        **extra: object,
    ) -> tuple[int, dict]:  # type: ignore[type-arg]
        """A signed transfer sent to the verify API (the response is a secret: logs never
        show it)."""
        self.secrets_used.add(response)
        transaction = {"amount": amount, "currency": currency, "payee": payee}
        answer = self.client.post(
            "/api/v1/verify",
            headers=self.headers(key),
            json={
                "username": username,
                "response": response,
                "purpose": "transfer",
                "transaction": transaction,
                **extra,
            },
        )
        return answer.status_code, answer.json()

    def credential(self, public_id: str) -> Credential:
        with self.services.db.transaction() as session:
            return self.services.credentials.get(session, public_id)[0]


def make_client_key(services: Services, name: str, purposes: list[Purpose]) -> str:
    with services.db.transaction() as session:
        _, key = services.clients.create(session, name, purposes)
    return key


@pytest.fixture
def database_url(tmp_path: Path, migrated_database: Path) -> str:
    """This test's own database at the newest schema: a copy of the one migrated once."""
    shutil.copyfile(migrated_database, tmp_path / "otp.sqlite3")
    return f"sqlite:///{tmp_path}/otp.sqlite3"


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    """Every log line of this test, as the production JSON renderer writes it. Set up for
    each test: logging configured by another conftest's copy of this fixture, or by a
    test, replaces the root's handlers (a session-wide handler then heard nothing)."""
    configure_logging("json", "debug")
    handler = JsonLines()
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def assert_no_secret_in(lines: list[str], secrets_used: set[str]) -> None:
    """None of the secrets (codes with digit boundaries) appears in any line."""
    for secret in secrets_used:
        pattern = re.compile(rf"(?<![0-9]){re.escape(secret)}(?![0-9])")
        leaks = [line for line in lines if pattern.search(line)]
        assert leaks == [], f"a secret appears in {len(leaks)} log line(s): {leaks[:1]}"


@pytest.fixture
def bank(
    hsm: Hsm, database_url: str, request: pytest.FixtureRequest, json_logs: JsonLines
) -> Iterator[Bank]:
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    clock = FakeClock()
    app = create_app(fast_settings(database_url, **overrides), hsm=hsm, clock=clock)
    services: Services = app.state.services
    key = make_client_key(services, "netbank", list(Purpose))
    first_line = len(json_logs.lines)
    with TestClient(app) as client:
        contract = OpenApiContract(client.get("/schema/openapi.json").json())
        client.event_hooks["response"] = [contract.check]
        the_bank = Bank(client, services, clock, key, {key}, contract)
        yield the_bank
    assert contract.violations == [], "answers the OpenAPI does not document"
    lines = json_logs.lines[first_line:]
    assert lines, "no log line was captured: the leak check would prove nothing"
    assert_no_secret_in(lines, the_bank.secrets_used)


class JsonLines(logging.Handler):
    """Keeps every log record rendered by structlog's JSON renderer, timestamps dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        try:
            data = json.loads(text)
            data.pop("timestamp", None)
            text = json.dumps(data)
        except ValueError:
            pass
        self.lines.append(text)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the test session (started as the `postgres` user)."""
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_services(hsm: Hsm, postgres: PostgresCluster) -> Iterator[Services]:
    """The services of an app on a new, migrated PostgreSQL database of this test's own."""
    url = postgres.create_database(f"otp_{secrets.token_hex(4)}")
    upgrade(url)
    services: Services = create_app(fast_settings(url), hsm=hsm).state.services
    yield services
    services.db.dispose()
