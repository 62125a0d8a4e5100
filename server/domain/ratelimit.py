"""Failure counters per source and fixed time window, kept in the database (so that every
server process sees the same counts): the per-source limits of the verify API and the
portal's login."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, select
from sqlmodel import col

from server.db.engine import per_dialect
from server.db.models import SourceFailures

_FAILURES = (
    select(col(SourceFailures.source), col(SourceFailures.failures))
    .where(col(SourceFailures.source).in_(bindparam("sources", expanding=True)))
    .where(col(SourceFailures.window) == bindparam("window"))
)
_COUNT = per_dialect(
    lambda dialect: (
        dialect.insert(SourceFailures)
        .values(source=bindparam("source"), window=bindparam("window"), failures=1)
        .on_conflict_do_update(
            index_elements=["source", "window"],
            set_={"failures": col(SourceFailures.failures) + 1},
        )
        .returning(col(SourceFailures.failures))
    )
)
_FORGET_OLDER = (
    delete(SourceFailures)
    .where(col(SourceFailures.source) == bindparam("source"))
    .where(col(SourceFailures.window) < bindparam("window"))
)


@dataclass(frozen=True)
class FailureLimit:
    """At most `limit` failures per `window_seconds` for one source."""

    limit: int
    window_seconds: int

    def window(self, now: float) -> int:
        return int(now // self.window_seconds)

    def retry_after(self, now: float) -> int:
        """Seconds until the current window ends."""
        return max(1, math.ceil(self.window_seconds * (self.window(now) + 1) - now))

    def exceeded(self, connection: Connection, source: str, now: float) -> bool:
        """True when `source` has used up its failures in this window."""
        return self.counts(connection, [source], now).get(source, 0) >= self.limit

    def counts(self, connection: Connection, sources: Iterable[str], now: float) -> dict[str, int]:
        """Failures of each of `sources` in this window (sources without any are left out)."""
        wanted = sorted(set(sources))
        if not wanted:
            return {}
        rows = connection.execute(_FAILURES, {"sources": wanted, "window": self.window(now)}).all()
        return {source: failures for source, failures in rows}

    def count(self, connection: Connection, source: str, now: float) -> None:
        """One more failure for `source`; its older windows are dropped when a new one
        starts (the first failure in it), not on every failure."""
        params = {"source": source, "window": self.window(now)}
        if connection.execute(_COUNT[connection.dialect.name], params).scalar_one() == 1:
            connection.execute(_FORGET_OLDER, params)
