"""The database engine: SQLite (one file, the default) or PostgreSQL (several processes)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlmodel import Session

T = TypeVar("T")


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600), or tighten an existing one.

    The file holds wrapped seeds, password hashes and the audit trail; SQLite gives its
    `-wal` and `-shm` files the database file's permissions, so they follow.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        status = path.stat()
        if status.st_mode & 0o077 and status.st_uid == os.getuid():
            path.chmod(0o600)


IDLE_PING_SECONDS = 1.0
"""A pooled connection idle longer than this is pinged before it is handed out."""


def _ping_when_idle(engine: Engine) -> None:
    """Hand out a pooled connection that sat idle with a round trip first (a dead one is
    replaced, as `pool_pre_ping` does), and one in steady use without: a ping on every
    checkout cost a round trip and ~0.15 ms of CPU twice per verify batch. A connection
    that dies while in use (PostgreSQL restarted mid-load) fails its statement, which
    SQLAlchemy sees as a disconnect: it drops the whole pool, and the next batch connects
    afresh (tests/server/test_scale_out_faults.py)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= IDLE_PING_SECONDS:
            return  # new, or in steady use
        try:
            # SQLAlchemy's own ping: one round trip, in autocommit, so no transaction is
            # left open (an autocommit engine sets its mode on the connection next, which
            # psycopg refuses inside one)
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("an idle pooled connection is gone") from exc


def make_engine(url: str, *, for_reads: bool = False) -> Engine:
    """An engine for `url` (e.g. `sqlite:///var/otp.sqlite3`, `postgresql+psycopg://...`).

    SQLite gets WAL, a busy timeout, foreign keys, synchronous=FULL (an accepted code must
    survive a power cut, or it could be replayed) and `BEGIN IMMEDIATE` for every
    transaction, so that two writers queue instead of failing half-way. With `for_reads`,
    statements run in autocommit: under WAL they read a consistent snapshot without taking
    the write lock.
    """
    parsed = make_url(url)
    # errors (and so the logs) never show the values of a statement: they may be secrets
    common: dict[str, Any] = {"hide_parameters": True}
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_size=10, max_overflow=20, **common)
        _ping_when_idle(engine)
        return engine.execution_options(isolation_level="AUTOCOMMIT") if for_reads else engine

    if parsed.database and parsed.database != ":memory:":
        _private_file(Path(parsed.database))
    engine = create_engine(
        parsed, connect_args={"check_same_thread": False, "timeout": 30}, **common
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
            "synchronous=FULL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    if not for_reads:

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def per_dialect(build: Callable[[ModuleType], T]) -> dict[str, T]:
    """`build(dialect)` for each database the product runs on, by dialect name.

    SQLAlchemy's ON CONFLICT upserts are dialect-specific statements (`sqlite.insert`,
    `postgresql.insert`); build them once at import and pick one with
    `statements[connection.dialect.name]`.
    """
    return {"sqlite": build(sqlite), "postgresql": build(postgresql)}


class Database:
    """Hands out sessions; each `transaction()` commits on success and rolls back on error."""

    def __init__(self, engine: Engine, read_engine: Engine | None = None) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url), make_engine(url, for_reads=True))

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads that never blocks (or waits for) a writer."""
        with self.read_engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def error_facts(exc: BaseException) -> dict[str, str]:
    """What a database error is, fit for logs: the driver's error class, SQLSTATE
    (PostgreSQL), error code (SQLite) and constraint; never the driver's text, which can
    quote the row ("Key (email)=(...) already exists")."""
    driver = exc.orig if isinstance(exc, DBAPIError) else exc
    facts = {
        "driver": type(driver).__qualname__ if isinstance(exc, DBAPIError) else None,
        "sqlstate": getattr(driver, "sqlstate", None),
        "code": getattr(driver, "sqlite_errorname", None),
        "constraint": getattr(getattr(driver, "diag", None), "constraint_name", None),
    }
    return {name: value for name, value in facts.items() if isinstance(value, str) and value}


TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
TRANSIENT_SQLITE = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})


def is_transient(exc: BaseException) -> bool:
    """A database error that the same transaction, run again, may not meet: PostgreSQL's
    deadlock and serialization failures, SQLite's busy or locked database."""
    facts = error_facts(exc)
    return facts.get("sqlstate") in TRANSIENT_SQLSTATES or facts.get("code") in TRANSIENT_SQLITE


def is_outage(exc: BaseException) -> bool:
    """The database cannot be reached or used at all (down, restarting, the connection
    lost): every request would meet it, unlike an error one request's values cause."""
    return isinstance(exc, OperationalError | InterfaceError) or bool(
        getattr(exc, "connection_invalidated", False)
    )


def database_problem(exc: SQLAlchemyError) -> str:
    """One line about a database error: the driver's error class (e.g. OperationalError),
    never its text, which can quote the statement's parameters or the URL."""
    return f"the database cannot be used: {type(getattr(exc, 'orig', None) or exc).__name__}"
