"""The audit chain's SQL: the head row (read, locked, moved, sealed), the events inserted
and read back. Typed reads and writes; no rule lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session, col, select

from server.db.driver import DriverStatement
from server.db.models import AuditEvent, AuditHead
from server.domain.audit.rules import FIELDS, Head

# Built once: constructing SQLAlchemy statements per call costs more than running them.
# The head's are read and written once per verify batch: on the driver's cursor.
_LOCK_HEAD = DriverStatement(
    select(  # type: ignore[call-overload]
        col(AuditHead.seq),
        col(AuditHead.hash),
        col(AuditHead.sealed_seq),
        col(AuditHead.sealed_hash),
        col(AuditHead.mac),
        col(AuditHead.key_version),
    )
    .where(col(AuditHead.id) == 1)
    .with_for_update()
)
_TAIL = (
    select(col(AuditEvent.seq), col(AuditEvent.hash))
    .where(col(AuditEvent.seq) > bindparam("after"))
    .where(col(AuditEvent.seq) <= bindparam("upto"))
    .order_by(col(AuditEvent.seq))
)
# once per verify batch, with a row per request: on the driver's cursor
_INSERT_EVENT = DriverStatement(
    insert(AuditEvent).values({name: bindparam(name) for name in (*FIELDS, "prev_hash", "hash")})
)
_MOVE_HEAD = DriverStatement(
    update(AuditHead)
    .where(col(AuditHead.id) == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_SEAL_HEAD = DriverStatement(
    update(AuditHead)
    .where(col(AuditHead.id) == 1)
    .values(
        seq=bindparam("new_seq"),
        hash=bindparam("new_hash"),
        sealed_seq=bindparam("new_seq"),
        sealed_hash=bindparam("new_hash"),
        mac=bindparam("new_mac"),
        key_version=bindparam("new_version"),
    )
)


def locked_head(connection: Connection) -> Head:
    """The head row, locked for the rest of the transaction (PostgreSQL; SQLite's write
    transaction holds the whole database)."""
    rows = _LOCK_HEAD.rows(connection, {})
    if len(rows) != 1:
        raise NoResultFound("the audit head row is missing: run `otp-admin db upgrade`")
    return Head(*rows[0])


def head(session: Session) -> Head:
    """The head row, without a lock (the verifier's read)."""
    row = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    return Head(row.seq, row.hash, row.sealed_seq, row.sealed_hash, row.mac, row.key_version)


def insert_events(connection: Connection, events: Sequence[dict[str, Any]]) -> None:
    """Insert linked events (`rules.linked`), in one executemany."""
    _INSERT_EVENT.executemany(connection, events)


def move_head(connection: Connection, seq: int, chain_hash: str) -> None:
    """Point the head at event `seq`, leaving the seal as it was."""
    _MOVE_HEAD.rowcount(connection, {"new_seq": seq, "new_hash": chain_hash})


def seal_head(connection: Connection, seq: int, chain_hash: str, mac: str, version: int) -> None:
    """Point the head at event `seq` and record the HSM's seal of it (`mac`, made with
    audit key `version`)."""
    _SEAL_HEAD.rowcount(
        connection,
        {"new_seq": seq, "new_hash": chain_hash, "new_mac": mac, "new_version": version},
    )


def tail(connection: Connection, after: int, upto: int) -> list[tuple[int, str]]:
    """(seq, hash) of the events after `after` up to `upto`, in order."""
    rows = connection.execute(_TAIL, {"after": after, "upto": upto}).all()
    return [(seq, chain_hash) for seq, chain_hash in rows]


def events_after(session: Session, seq: int, limit: int) -> Sequence[AuditEvent]:
    """Up to `limit` events after event `seq`, in order."""
    return session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.seq) > seq)
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    ).all()
