"""The credentials' SQL for the token and the portal: whether a customer has a token, and
the credential a token owns. Typed reads and writes; no rule lives here.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from server.db.models import Credential, CredentialStatus, Customer, Device


def has_active(connection: Connection, customer_id: int | None) -> bool:
    """True when the customer has an active credential."""
    return (
        connection.execute(
            select(Credential.id)
            .where(Credential.customer_id == customer_id)
            .where(Credential.status == CredentialStatus.ACTIVE)
        ).first()
        is not None
    )


def with_owner(session: Session, public_id: str) -> tuple[Credential, Device, Customer] | None:
    """The credential, the device it was provisioned to and its customer; None for a
    credential that does not exist or was not provisioned to a device (an import)."""
    row = session.exec(
        select(Credential, Device, Customer)
        .join(Device, col(Device.id) == col(Credential.device_id))
        .join(Customer, col(Customer.id) == col(Credential.customer_id))
        .where(Credential.public_id == public_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2])
