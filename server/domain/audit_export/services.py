"""Audit events for people and other tools: a range as JSON lines, and what was done to keys.

An exported line carries every field of the event exactly as stored (`details` is the
canonical JSON string the hash covers), so anyone can check a range without this code:

    hash = SHA-256(bytes.fromhex(prev_hash) || canonical JSON of
                   {seq, at, actor, action, subject, purpose, result, reason, source, details})

where canonical JSON has sorted keys, no spaces and UTF-8 text (`server.domain.audit`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from server.db.engine import Database
from server.db.models import AuditEvent
from server.domain.audit.rules import FIELDS

KEY_ACTION_PREFIXES = ("key.", "hsm.")
EXPORT_FIELDS = (*FIELDS, "prev_hash", "hash")


def event_line(event: AuditEvent) -> str:
    """One event as a JSON line (no newline), fields in chain order."""
    values = event.model_dump()
    return json.dumps({k: values[k] for k in EXPORT_FIELDS}, ensure_ascii=False)


class AuditTrail:
    """Read-only queries over the audit events (they never take the write lock)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def bounds(self) -> tuple[int, int]:
        """The first and last seq stored (0, 0 when there is none)."""
        with self._db.reading() as connection:
            first, last = connection.execute(
                select(func.min(AuditEvent.seq), func.max(AuditEvent.seq))
            ).one()
        return int(first or 0), int(last or 0)

    def events(self, first: int, last: int, batch: int = 1000) -> Iterator[AuditEvent]:
        """Events with `first` <= seq <= `last`, in order, read a batch at a time."""
        after = first - 1
        while after < last:
            with Session(self._db.read_engine) as session:
                rows = session.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.seq) > after)
                    .where(col(AuditEvent.seq) <= last)
                    .order_by(col(AuditEvent.seq))
                    .limit(batch)
                ).all()
            if not rows:
                return
            yield from rows
            after = rows[-1].seq

    def key_events(self, limit: int | None = None) -> list[AuditEvent]:
        """What was done to keys and to the HSM (actions `key.*`, `hsm.*`), oldest first;
        with `limit`, only the newest `limit` of them."""
        statement = (
            select(AuditEvent)
            .where(or_(*(col(AuditEvent.action).startswith(p) for p in KEY_ACTION_PREFIXES)))
            .order_by(col(AuditEvent.seq).desc())
        )
        if limit is not None:
            statement = statement.limit(limit)
        with Session(self._db.read_engine) as session:
            rows = list(session.exec(statement).all())
        return rows[::-1]
