"""The KEK rotation's SQL: the credentials' counts by KEK version, a batch of credentials
under older KEKs, the conditional UPDATE that re-wraps them (both blobs of a credential
that has an OCRA seed, conditional on both), the audit events that say when
a KEK was created, and the audit head's row lock that serialises officers. Typed reads and
writes; no rule lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlmodel import col

from hsm import WrappedSeed
from server.db.models import AuditEvent, AuditHead, Credential
from server.domain.keys.rules import WrappedRow

_REWRAP = (
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .where(col(Credential.kek_version) == bindparam("old_version"))
    .where(col(Credential.wrapped_seed) == bindparam("old_blob"))
    .where(col(Credential.ocra_wrapped_seed).is_not_distinct_from(bindparam("old_ocra_blob")))
    .values(
        wrapped_seed=bindparam("new_blob"),
        ocra_wrapped_seed=bindparam("new_ocra_blob"),
        kek_version=bindparam("new_version"),
    )
)
_LOCK_HEAD = select(col(AuditHead.seq)).where(col(AuditHead.id) == 1).with_for_update()


def lock_officers(connection: Connection) -> None:
    """Lock the audit head's row until the transaction ends (PostgreSQL; SQLite's write
    transaction holds the whole database): two officers' KEK changes wait for each other."""
    connection.execute(_LOCK_HEAD)


def counts_by_version(connection: Connection) -> list[tuple[int, str, int]]:
    """(KEK version, status, credentials) for every version and status in use."""
    rows = connection.execute(
        select(col(Credential.kek_version), col(Credential.status), func.count())
        .group_by(col(Credential.kek_version), col(Credential.status))
        .order_by(col(Credential.kek_version))
    ).all()
    return [(version, status, count) for version, status, count in rows]


def newest_used(connection: Connection) -> int | None:
    """The newest KEK version any credential is wrapped under (None: no credentials)."""
    newest: int | None = connection.execute(select(func.max(Credential.kek_version))).scalar()
    return newest


def count_older(connection: Connection, version: int) -> int:
    """Credentials, whatever their status, wrapped under a KEK older than `version`."""
    return int(
        connection.execute(
            select(func.count()).where(col(Credential.kek_version) < version)
        ).scalar_one()
    )


def count_under(connection: Connection, version: int) -> int:
    """Credentials, whatever their status, wrapped under KEK `version`."""
    return int(
        connection.execute(
            select(func.count()).where(col(Credential.kek_version) == version)
        ).scalar_one()
    )


def older_than(connection: Connection, target: int, after: int, limit: int) -> list[WrappedRow]:
    """Up to `limit` credentials under a KEK older than `target`, in id order after row
    `after`."""
    rows: Sequence[Any] = connection.execute(
        select(
            col(Credential.id),
            col(Credential.public_id),
            col(Credential.wrapped_seed),
            col(Credential.kek_version),
            col(Credential.seed_length),
            col(Credential.ocra_wrapped_seed),
            col(Credential.ocra_seed_length),
        )
        .where(col(Credential.kek_version) < target)
        .where(col(Credential.id) > after)
        .order_by(col(Credential.id))
        .limit(limit)
    ).all()
    return [
        WrappedRow(
            r[0],
            r[1],
            WrappedSeed(bytes(r[2]), r[3], r[4]),
            None if r[5] is None else WrappedSeed(bytes(r[5]), r[3], r[6]),
        )
        for r in rows
    ]


def rewrap(connection: Connection, params: Sequence[dict[str, Any]]) -> int:
    """Re-wrap rows that are still as they were read (`rules.rewrap_writes`' parameters), in
    one executemany; returns how many were."""
    return connection.execute(_REWRAP, params).rowcount if params else 0


def creation_recorded(connection: Connection, subject: str) -> bool:
    """Whether the audit trail has a `key.create` event for the key labelled `subject`."""
    return (
        connection.execute(
            select(col(AuditEvent.seq))
            .where(col(AuditEvent.action) == "key.create")
            .where(col(AuditEvent.subject) == subject)
            .limit(1)
        ).first()
        is not None
    )


def created_at(connection: Connection, subject: str) -> float | None:
    """When the audit trail first says the key labelled `subject` was created."""
    at: float | None = connection.execute(
        select(func.min(AuditEvent.at))
        .where(col(AuditEvent.action) == "key.create")
        .where(col(AuditEvent.subject) == subject)
    ).scalar()
    return at
