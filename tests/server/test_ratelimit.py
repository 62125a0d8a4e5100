"""The per-source failure counter: counts within a window, forgets older windows."""

from __future__ import annotations

from sqlalchemy import select

from server.db.engine import make_engine
from server.db.models import SourceFailures
from server.domain.ratelimit import FailureLimit


def test_failures_count_per_window_and_a_new_window_drops_the_older(database_url: str) -> None:
    limit = FailureLimit(limit=3, window_seconds=60)
    engine = make_engine(database_url)
    rows = select(SourceFailures.source, SourceFailures.window, SourceFailures.failures)
    with engine.begin() as connection:
        for now in (600.0, 610.0, 619.0):  # window 10
            limit.count(connection, "a", now)
        limit.count(connection, "b", 605.0)
        assert limit.exceeded(connection, "a", 650.0)
        assert not limit.exceeded(connection, "b", 650.0)
        limit.count(connection, "a", 661.0)  # window 11
        limit.count(connection, "a", 662.0)
        assert sorted(tuple(r) for r in connection.execute(rows)) == [("a", 11, 2), ("b", 10, 1)]
        assert limit.counts(connection, ["a", "b", "c"], 670.0) == {"a": 2}
    engine.dispose()
