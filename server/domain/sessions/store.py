"""The portal sessions' SQL: typed reads and the conditional writes that end a session
(each changes only a session still open, so two processes ending one agree); no rule
lives here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, update
from sqlmodel import Session, col, select

from server.db.models import Customer, PortalSession


def add(session: Session, row: PortalSession) -> None:
    """Store a new session."""
    session.add(row)


def open_by_hash(session: Session, id_hash: str) -> tuple[PortalSession, Customer] | None:
    """The open session whose cookie hashes to `id_hash`, and its customer."""
    row = session.exec(
        select(PortalSession, Customer)
        .join(Customer, col(Customer.id) == col(PortalSession.customer_id))
        .where(PortalSession.id_hash == id_hash)
        .where(col(PortalSession.ended_at).is_(None))
    ).first()
    return None if row is None else (row[0], row[1])


def touch(connection: Connection, session_id: int | None, now: float) -> None:
    """The session was used at `now`."""
    connection.execute(
        update(PortalSession)
        .where(col(PortalSession.id) == session_id)
        .where(col(PortalSession.ended_at).is_(None))
        .values(last_seen_at=now)
    )


def authenticate(connection: Connection, old_hash: str, new_hash: str, now: float) -> bool:
    """The login waiting for its code finished: the session gets a new id (so the one seen
    before the code opens nothing) and its absolute limit starts. False when the session
    is no longer waiting (ended, or finished by another request)."""
    done = connection.execute(
        update(PortalSession)
        .where(col(PortalSession.id_hash) == old_hash)
        .where(col(PortalSession.authenticated_at).is_(None))
        .where(col(PortalSession.ended_at).is_(None))
        .values(id_hash=new_hash, authenticated_at=now, last_seen_at=now)
    )
    return done.rowcount == 1


def end(
    connection: Connection,
    now: float,
    reason: str,
    *,
    session_ids: Sequence[int | None] | None = None,
    customer_ids: Sequence[int | None] | None = None,
    keep: int | None = None,
) -> int:
    """End the open sessions among `session_ids`, or of `customer_ids`, or (neither
    given) every open session; `keep` is left open. Returns how many ended."""
    statement = update(PortalSession).where(col(PortalSession.ended_at).is_(None))
    if session_ids is not None:
        statement = statement.where(col(PortalSession.id).in_(session_ids))
    if customer_ids is not None:
        statement = statement.where(col(PortalSession.customer_id).in_(customer_ids))
    if keep is not None:
        statement = statement.where(col(PortalSession.id) != keep)
    return connection.execute(statement.values(ended_at=now, ended_reason=reason)).rowcount


def by_public_id(session: Session, public_id: str) -> PortalSession | None:
    """The session (open or ended) of this public id."""
    return session.exec(select(PortalSession).where(PortalSession.public_id == public_id)).first()


def open_of_customer(session: Session, customer_id: int | None) -> list[PortalSession]:
    """The customer's open sessions that finished their login, most recently used first."""
    return list(
        session.exec(
            select(PortalSession)
            .where(PortalSession.customer_id == customer_id)
            .where(col(PortalSession.ended_at).is_(None))
            .where(col(PortalSession.authenticated_at).is_not(None))
            .order_by(col(PortalSession.last_seen_at).desc())
        ).all()
    )
