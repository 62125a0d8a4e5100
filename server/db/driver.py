"""Statements run on the DB-API cursor: for the few that run for every verify request.

SQLAlchemy's work around each execution (parameters, execution context, result object)
costs several times what SQLite itself needs for a one-row UPDATE by primary key: ~46 µs
against ~10 µs on this project's machine. `DriverStatement` compiles a SQLAlchemy
statement once per dialect and runs it on the cursor of the connection's own DB-API
connection, so it stays inside the caller's transaction.

Only for statements whose parameters are plain numbers and strings: values go to the
driver as they are, without SQLAlchemy's type processing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable


@dataclass(frozen=True)
class _Compiled:
    sql: str
    constants: dict[str, Any]
    """Values written into the statement itself (e.g. a status to compare with)."""
    positions: tuple[str, ...] | None
    """The parameters' names in order, for drivers with positional placeholders."""

    def arguments(self, params: Mapping[str, Any]) -> Any:
        """What the driver takes for `params`: a sequence or a mapping."""
        values = {**self.constants, **params}
        if self.positions is None:
            return values
        return [values[name] for name in self.positions]


class DriverStatement:
    """`statement`, compiled once for each database it runs on."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rowcount(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run the statement in `connection`'s transaction; the rows it changed."""
        compiled = self._for(connection)
        return _on_cursor(connection, compiled.sql, "execute", compiled.arguments(params))

    def executemany(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once for each of `rows` (e.g. an INSERT of many rows), in
        `connection`'s transaction."""
        compiled = self._for(connection)
        _on_cursor(connection, compiled.sql, "executemany", [compiled.arguments(r) for r in rows])

    def _for(self, connection: Connection) -> _Compiled:
        return self._compiled.get(connection.dialect.name) or self._compile(connection.dialect)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        constants = {
            name: _plain(bind.value)
            for name, bind in compiled.binds.items()
            if not bind.required  # a value in the statement, not a parameter to pass
        }
        positions = tuple(compiled.positiontup) if compiled.positional else None
        entry = _Compiled(str(compiled), constants, positions)
        self._compiled[dialect.name] = entry
        return entry


def _on_cursor(connection: Connection, sql: str, method: str, arguments: Any) -> int:
    """`cursor.<method>(sql, arguments)` on the connection's own driver connection;
    returns the cursor's rowcount. Driver errors come out as SQLAlchemy's."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        getattr(cursor, method)(sql, arguments)
        return int(cursor.rowcount)
    except Exception as exc:
        raise _translated(connection, sql, arguments, exc) from exc
    finally:
        cursor.close()


def _translated(connection: Connection, sql: str, arguments: Any, exc: Exception) -> Exception:
    """A driver error as SQLAlchemy raises it (callers catch `SQLAlchemyError`); a lost
    connection is invalidated, as SQLAlchemy does, so the pool does not hand it out again."""
    dialect = connection.dialect
    dbapi = dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        return exc
    if dialect.is_disconnect(exc, connection.connection.dbapi_connection, None):
        connection.invalidate(exc)
    return DBAPIError.instance(
        sql, arguments, exc, dbapi.Error, hide_parameters=True, dialect=dialect
    )


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value
