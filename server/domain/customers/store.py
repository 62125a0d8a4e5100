"""The customers' SQL: typed reads of the `customers` table; no rule lives here."""

from __future__ import annotations

from sqlmodel import Session, select

from server.db.models import Customer


def named(session: Session, name: str) -> Customer | None:
    """The customer whose (normalised) username is `name`."""
    return session.exec(select(Customer).where(Customer.username == name)).first()


def locked_for_enrollment(session: Session, customer_id: int) -> Customer | None:
    """The customer, its row locked until the transaction ends: two enrollments that finish
    at once wait for each other (docs/design.md §3)."""
    return session.exec(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    ).first()
