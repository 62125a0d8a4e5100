"""`DriverStatement`: the same rows changed as SQLAlchemy would, inside the caller's
transaction, on SQLite and on PostgreSQL."""

from __future__ import annotations

import enum
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from server.db.driver import DriverStatement
from server.db.engine import make_engine
from tests.server.processes import PostgresCluster


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


_ROWS = Table(
    "rows",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("colour", String(8), nullable=False),
    Column("until", Float),
)
# the shape of the verify API's acceptance: parameters used twice, constants (an enum, a
# NULL) written into the statement
_BUMP = DriverStatement(
    update(_ROWS)
    .where(_ROWS.c.id == bindparam("rid"))
    .where(_ROWS.c.n < bindparam("n"))
    .where(_ROWS.c.colour == Colour.RED)
    .values(n=bindparam("n"), until=None)
)

# the shape of the audit's insert: one row per request, many at once
_ADD = DriverStatement(
    insert(_ROWS).values(
        id=bindparam("rid"), n=bindparam("n"), colour=Colour.BLUE, until=bindparam("until")
    )
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rows.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"rows_{secrets.token_hex(4)}")


def _engine_with(url: str, rows: list[dict[str, object]]) -> Engine:
    """An engine on `url` whose table holds `rows`."""
    engine = make_engine(url)
    _ROWS.create(engine)
    if rows:
        with engine.begin() as connection:
            connection.execute(_ROWS.insert(), rows)
    return engine


def test_a_driver_statement_changes_what_sqlalchemy_would(url: str) -> None:
    engine = _engine_with(
        url,
        [
            {"id": 1, "n": 5, "colour": "red", "until": 9.5},
            {"id": 2, "n": 5, "colour": "blue", "until": 9.5},
        ],
    )
    with engine.begin() as connection:
        assert _BUMP.rowcount(connection, {"rid": 1, "n": 7}) == 1
        assert _BUMP.rowcount(connection, {"rid": 1, "n": 7}) == 0  # n < 7 no longer holds
        assert _BUMP.rowcount(connection, {"rid": 2, "n": 7}) == 0  # not red
    with engine.begin() as connection:
        assert _BUMP.rowcount(connection, {"rid": 1, "n": 8}) == 1
        connection.rollback()  # the statement was part of this transaction
    with engine.connect() as connection:
        rows = connection.execute(select(_ROWS).order_by(_ROWS.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 7, "red", None), (2, 5, "blue", 9.5)]


def test_a_driver_statement_inserts_many_rows_in_the_transaction(url: str) -> None:
    engine = _engine_with(url, [])
    rows = [{"rid": i, "n": i * 10, "until": None if i % 2 else i / 4} for i in range(1, 6)]
    with engine.begin() as connection:
        _ADD.executemany(connection, rows)
    with engine.begin() as connection:
        _ADD.executemany(connection, [{"rid": 9, "n": 1, "until": 1.0}])
        connection.rollback()
    with engine.connect() as connection:
        stored = connection.execute(select(_ROWS).order_by(_ROWS.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in stored] == [(r["rid"], r["n"], "blue", r["until"]) for r in rows]


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(url: str) -> None:
    """Callers catch SQLAlchemyError (the verify API answers 503 then): a driver's own
    exception must not get past them."""
    engine = _engine_with(url, [])
    with engine.begin() as connection:
        _ADD.executemany(connection, [{"rid": 1, "n": 1, "until": None}])
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        _ADD.executemany(connection, [{"rid": 1, "n": 424242, "until": None}])
    assert "424242" not in str(raised.value)  # values may be secrets: never in an error
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(_ROWS.insert(), {"id": 1, "n": 434343, "colour": "red"})
    assert "434343" not in str(raised.value)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        _ADD.executemany(connection, [{"rid": 2, "n": 2, "until": None}])
        _BUMP.rowcount(connection, {"rid": 2, "n": 3})  # fine
        connection.exec_driver_sql("SELECT 1")
        _ADD.executemany(connection, [{"rid": 2, "n": 2, "until": None}])
    with engine.connect() as connection:
        assert connection.execute(select(_ROWS.c.id)).scalars().all() == [1]
    engine.dispose()


# the shape of the verify API's read: an IN list of any length, a constant, an order
_PICK = DriverStatement(
    select(_ROWS.c.id, _ROWS.c.n, _ROWS.c.until)
    .where(_ROWS.c.id.in_(bindparam("ids", expanding=True)))
    .where(_ROWS.c.colour == Colour.RED)
    .where(_ROWS.c.n >= bindparam("least"))
    .order_by(_ROWS.c.id)
)


def test_a_driver_query_returns_what_sqlalchemy_would_for_lists_of_any_length(url: str) -> None:
    engine = _engine_with(
        url,
        [
            {"id": i, "n": i % 7, "colour": "red" if i % 3 else "blue", "until": i / 8}
            for i in range(1, 40)
        ],
    )
    plain = (
        select(_ROWS.c.id, _ROWS.c.n, _ROWS.c.until)
        .where(_ROWS.c.id.in_(bindparam("ids", expanding=True)))
        .where(_ROWS.c.colour == "red")
        .where(_ROWS.c.n >= bindparam("least"))
        .order_by(_ROWS.c.id)
    )
    asked = [[5], [1, 2, 3], list(range(1, 40)), [38, 2, 2, 99], [1, 2, 3], [5]]
    with engine.begin() as connection:
        for ids in asked:
            params = {"ids": ids, "least": 2}
            expected = [tuple(r) for r in connection.execute(plain, params)]
            assert _PICK.rows(connection, params) == expected
        assert _PICK.rows(connection, {"ids": [99, 100], "least": 0}) == []
        with pytest.raises(ValueError, match="'ids' takes a non-empty list"):
            _PICK.rows(connection, {"ids": [], "least": 0})
        # inside the caller's transaction: it sees what the transaction wrote
        _BUMP.rowcount(connection, {"rid": 4, "n": 6})
        assert _PICK.rows(connection, {"ids": [4], "least": 6}) == [(4, 6, None)]
    engine.dispose()


@pytest.mark.parametrize(
    "where",
    [
        _ROWS.c.id.in_([1, 2]),  # a list written into the statement
        tuple_(_ROWS.c.id, _ROWS.c.n).in_(bindparam("pairs", expanding=True)),  # rows
    ],
    ids=["literal-list", "tuple-list"],
)
def test_a_driver_statement_refuses_lists_it_cannot_expand(url: str, where: Any) -> None:
    engine = _engine_with(url, [{"id": 1, "n": 1, "colour": "red", "until": None}])
    statement = DriverStatement(select(_ROWS.c.id).where(where))
    with engine.connect() as connection, pytest.raises(NotImplementedError, match="single"):
        statement.rows(connection, {"pairs": [(1, 1)]})
    engine.dispose()
