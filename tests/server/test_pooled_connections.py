"""PostgreSQL connections in the pool: one that sat idle is pinged and replaced if its
server process is gone; one in steady use is handed out without a round trip
(`server.db.engine._ping_when_idle`)."""

from __future__ import annotations

import secrets
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from server.db import engine as engine_module
from server.db.engine import make_engine
from tests.server.processes import PostgresCluster


def _backend(engine: object) -> int:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.parametrize("for_reads", [False, True], ids=["writes", "reads"])
def test_an_idle_connection_whose_server_process_died_is_replaced(
    postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch, for_reads: bool
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.05)
    url = postgres.create_database(f"otp_{secrets.token_hex(4)}")
    engine, killer = make_engine(url, for_reads=for_reads), make_engine(url)
    first = _backend(engine)
    with killer.connect() as connection:  # what a PostgreSQL restart does to it
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        connection.commit()
    time.sleep(0.1)
    second = _backend(engine)
    assert second != first  # no error: the dead one was pinged and replaced
    time.sleep(0.1)
    assert _backend(engine) == second  # a live one is pinged and handed out as it is
    engine.dispose()
    killer.dispose()


def test_a_connection_in_steady_use_is_not_pinged_and_a_dead_one_costs_one_failure(
    postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handed out within the idle time, a connection gets no ping: one killed under it
    fails the statement (a ping would have replaced it), and SQLAlchemy, seeing a
    disconnect, drops the pool: the next checkout works."""
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 60.0)
    url = postgres.create_database(f"otp_{secrets.token_hex(4)}")
    engine, killer = make_engine(url), make_engine(url)
    first = _backend(engine)
    with killer.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        connection.commit()
    time.sleep(0.1)
    with pytest.raises(OperationalError):
        _backend(engine)
    assert _backend(engine) != first
    engine.dispose()
    killer.dispose()
