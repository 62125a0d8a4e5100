"""The customers' SQL: typed reads of the `customers` table; no rule lives here."""

from __future__ import annotations

from sqlmodel import Session, select

from server.db.models import Customer


def named(session: Session, name: str) -> Customer | None:
    """The customer whose (normalised) username is `name`."""
    return session.exec(select(Customer).where(Customer.username == name)).first()
