"""Failure counters per source and fixed time window, kept in the database (so that every
server process sees the same counts): the per-source limits of the verify API and the
portal's login."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
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
        .values(source=bindparam("source"), window=bindparam("window"), failures=bindparam("n"))
        .on_conflict_do_update(
            index_elements=["source", "window"],
            set_={"failures": col(SourceFailures.failures) + bindparam("n")},
        )
        .returning(col(SourceFailures.failures))
    )
)
_FORGET_OLDER = (
    delete(SourceFailures)
    .where(col(SourceFailures.source) == bindparam("source"))
    .where(col(SourceFailures.window) < bindparam("window"))
)


_KEY_LENGTH: int = SourceFailures.__table__.c.source.type.length  # type: ignore[attr-defined]


def _stored(source: str) -> str:
    """`source` as the counters' column holds it: as it is, or, when it is longer than the
    column (PostgreSQL refuses it), its start and a digest of all of it. A NUL never gets
    here: the verify API refuses one and the login makes it U+FFFD (`login_name`)."""
    if len(source) <= _KEY_LENGTH:
        return source
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{source[: _KEY_LENGTH - len(digest) - 1]}#{digest}"


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
        wanted = {_stored(source): source for source in sources}
        if not wanted:
            return {}
        rows = connection.execute(
            _FAILURES, {"sources": sorted(wanted), "window": self.window(now)}
        ).all()
        return {wanted[stored]: failures for stored, failures in rows}

    def count(self, connection: Connection, source: str, now: float) -> None:
        """One more failure for `source`."""
        self.count_many(connection, {source: 1}, now)

    def count_many(self, connection: Connection, failures: Mapping[str, int], now: float) -> None:
        """`failures[source]` more failures for each source, the rows written in source
        order (the lock order of docs/design.md §4). A source's older windows are dropped
        when a new one starts (its first failures in it), not on every failure."""
        window = self.window(now)
        stored = {_stored(source): n for source, n in failures.items()}
        for source in sorted(stored):
            n = stored[source]
            params = {"source": source, "window": window, "n": n}
            if connection.execute(_COUNT[connection.dialect.name], params).scalar_one() == n:
                connection.execute(_FORGET_OLDER, params)
