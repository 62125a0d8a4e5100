"""Statements run on the DB-API cursor: for the few that run for every verify request.

SQLAlchemy's work around each execution (parameters, execution context, result object)
costs several times what SQLite itself needs for a one-row UPDATE by primary key: ~46 µs
against ~10 µs on this project's machine. `DriverStatement` compiles a SQLAlchemy
statement once per dialect and runs it on the cursor of the connection's own DB-API
connection, so it stays inside the caller's transaction.

Only for statements whose parameters and result columns are plain numbers, strings and
bytes: values go to and come from the driver as they are, without SQLAlchemy's type
processing. An `IN` list (`bindparam(name, expanding=True)` of single values) gets one
placeholder per item, without the casts SQLAlchemy would add for PostgreSQL; the
statement is compiled once per dialect and its text made once per list length.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.sqltypes import TupleType

T = TypeVar("T")


_POSTCOMPILE = "__[POSTCOMPILE_{}]"
"""How SQLAlchemy leaves an expanding parameter in the compiled text."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    constants: dict[str, Any]
    """Values written into the statement itself (e.g. a status to compare with)."""
    positions: tuple[str, ...] | None
    """The parameters' names in order, for drivers with positional placeholders."""
    expanding: tuple[str, ...] = ()
    """Parameters that are lists (`IN`), each marked in `sql` by `_POSTCOMPILE`."""
    paramstyle: str = "qmark"
    texts: dict[tuple[int, ...], str] = field(default_factory=dict)
    """The statement's text for each combination of list lengths met so far."""

    def arguments(self, params: Mapping[str, Any]) -> Any:
        """What the driver takes for `params` (no lists): a sequence or a mapping."""
        values = {**self.constants, **params}
        if self.positions is None:
            return values
        return [values[name] for name in self.positions]

    def bind(self, params: Mapping[str, Any]) -> tuple[str, Any]:
        """The statement's text and the driver's arguments for `params`: one placeholder,
        and one argument, for each item of every list."""
        if not self.expanding:
            return self.sql, self.arguments(params)
        values = {**self.constants, **params}
        lists = {name: _items(name, values[name]) for name in self.expanding}
        arguments: Any
        if self.positions is None:
            arguments = values
            for name, items in lists.items():
                arguments.update({f"{name}__{i}": item for i, item in enumerate(items)})
        else:
            arguments = []
            for name in self.positions:
                if name in lists:
                    arguments.extend(lists[name])
                else:
                    arguments.append(values[name])
        return self._text(tuple(len(items) for items in lists.values())), arguments

    def _text(self, lengths: tuple[int, ...]) -> str:
        text = self.texts.get(lengths)
        if text is None:
            text = self.sql
            for name, length in zip(self.expanding, lengths, strict=True):
                marks = ", ".join(
                    _placeholder(self.paramstyle, f"{name}__{i}") for i in range(length)
                )
                marker = _POSTCOMPILE.format(name)
                if marker not in text:
                    raise NotImplementedError(f"SQLAlchemy did not mark the list {name!r}")
                text = text.replace(marker, marks)
            self.texts[lengths] = text
        return text


def _items(name: str, value: Any) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"parameter {name!r} takes a non-empty list")
    return value


def _placeholder(paramstyle: str, name: str) -> str:
    if paramstyle == "qmark":
        return "?"
    if paramstyle == "format":
        return "%s"
    if paramstyle == "pyformat":
        return f"%({name})s"
    if paramstyle == "named":
        return f":{name}"
    raise NotImplementedError(f"no expanding parameters for paramstyle {paramstyle!r}")


class DriverStatement:
    """`statement`, compiled once for each database it runs on."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def rowcount(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run the statement in `connection`'s transaction; the rows it changed."""
        return self._execute(connection, params, _rowcount)

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the query in `connection`'s transaction; every row it returns, as tuples."""
        return self._execute(connection, params, _fetchall)

    def _execute(
        self, connection: Connection, params: Mapping[str, Any], result: Callable[[Any], T]
    ) -> T:
        sql, arguments = self._for(connection).bind(params)
        return _on_cursor(connection, sql, "execute", arguments, result)

    def executemany(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once for each of `rows` (e.g. an INSERT of many rows), in
        `connection`'s transaction."""
        compiled = self._for(connection)
        if compiled.expanding:
            raise NotImplementedError("executemany takes no list parameters")
        arguments = [compiled.arguments(r) for r in rows]
        _on_cursor(connection, compiled.sql, "executemany", arguments, _rowcount)

    def _for(self, connection: Connection) -> _Compiled:
        return self._compiled.get(connection.dialect.name) or self._compile(connection.dialect)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        for bind in compiled.binds.values():
            if bind.expanding and (not bind.required or isinstance(bind.type, TupleType)):
                # a list written into the statement (`in_([...])`), or rows (`tuple_().in_`)
                raise NotImplementedError(
                    "a DriverStatement takes lists only as bindparam(name, expanding=True) "
                    "of single values"
                )
        constants = {
            name: _plain(bind.value)
            for name, bind in compiled.binds.items()
            if not bind.required  # a value in the statement, not a parameter to pass
        }
        positions = tuple(compiled.positiontup) if compiled.positional else None
        expanding = tuple(name for name, bind in compiled.binds.items() if bind.expanding)
        entry = _Compiled(str(compiled), constants, positions, expanding, dialect.paramstyle)
        self._compiled[dialect.name] = entry
        return entry


def _rowcount(cursor: Any) -> int:
    return int(cursor.rowcount)


def _fetchall(cursor: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in cursor.fetchall()]


def _on_cursor(
    connection: Connection, sql: str, method: str, arguments: Any, result: Callable[[Any], T]
) -> T:
    """`cursor.<method>(sql, arguments)` on the connection's own driver connection, then
    `result(cursor)`. Driver errors come out as SQLAlchemy's."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        getattr(cursor, method)(sql, arguments)
        return result(cursor)
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
