"""A batch that meets a deadlock or a serialization failure is committed again before any
request in it is answered (issue 21); other database errors are not retried.

The errors are PostgreSQL's own: the commit's transaction runs a statement that raises
with the SQLSTATE under test, once, where the audit append would run.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.domain.credentials.rules import SeedImport
from server.domain.verification.rules import Result, VerifyRequest
from server.services import Services
from tests.server.conftest import fast_settings
from tests.server.processes import PostgresCluster

pytestmark = pytest.mark.slow  # PostgreSQL: `make test` runs it, a plain `pytest` not


@pytest.fixture
def on_postgres(hsm: Hsm, postgres: PostgresCluster) -> Iterator[tuple[Services, pyotp.TOTP]]:
    url = postgres.create_database(f"otp_{secrets.token_hex(4)}")
    upgrade(url)
    services: Services = create_app(fast_settings(url), hsm=hsm).state.services
    seed = secrets.token_bytes(20)
    with services.db.transaction() as session:
        customer = services.customers.add(session, "ana", "ana@example.com", "a password 1")
        services.credentials.import_seed(session, customer, SeedImport(seed=seed), "test")
    yield services, pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)
    services.db.dispose()


def _failing_once(services: Services, sqlstate: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the audit append raise `sqlstate` the first time; returns its call count."""
    calls: list[int] = []
    append: Callable[..., Any] = services.audit.append_many

    def append_many(connection: Connection, records: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            connection.exec_driver_sql(
                f"DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{sqlstate}'; END $$"
            )
        return append(connection, records)

    monkeypatch.setattr(services.audit, "append_many", append_many)
    return calls


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])  # deadlock, serialization failure
def test_a_transient_failure_is_committed_again_and_every_request_answered(
    on_postgres: tuple[Services, pyotp.TOTP], sqlstate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, totp = on_postgres
    before = _events(services)
    calls = _failing_once(services, sqlstate, monkeypatch)
    good = totp.now()
    wrong = "000000" if good != "000000" else "111111"
    outcomes = services.verification.verify_many(
        [VerifyRequest("ana", good, "login", "rp"), VerifyRequest("ana", wrong, "login", "rp")]
    )
    assert [o.result for o in outcomes] == [Result.ACCEPTED, Result.REJECTED]
    assert len(calls) == 2
    # the first attempt left nothing behind: the code counts once, the chain holds
    replay = services.verification.verify(VerifyRequest("ana", good, "login", "rp"))
    assert (replay.result, replay.reason) == (Result.REJECTED, "replay")
    assert _events(services) == before + 3


def _events(services: Services) -> int:
    with services.db.transaction() as session:
        report = services.audit.verify(session)
    assert report.ok, report.problem
    return report.events


def test_other_database_errors_are_not_retried(
    on_postgres: tuple[Services, pyotp.TOTP], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, totp = on_postgres
    calls = _failing_once(services, "23505", monkeypatch)  # unique violation
    with pytest.raises(DBAPIError):
        services.verification.verify(VerifyRequest("ana", totp.now(), "login", "rp"))
    assert len(calls) == 1
