"""The credentials' SQL for the token and the portal: whether a customer has a token, the
credential a token owns, and the writes of an enrollment (the new credential in, the
customer's others retired). Typed reads and writes; no rule lives here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, update
from sqlmodel import Session, col, select

from hsm import Algorithm, WrappedSeed
from server.db.models import Credential, CredentialKind, CredentialStatus, Customer, Device


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


def active_ids(session: Session, customer_id: int | None) -> list[str]:
    """The public ids of the customer's active credentials."""
    return list(
        session.exec(
            select(Credential.public_id)
            .where(Credential.customer_id == customer_id)
            .where(Credential.status == CredentialStatus.ACTIVE)
        ).all()
    )


def retire(connection: Connection, public_ids: Sequence[str], now: float) -> None:
    """Retire these credentials: their codes are rejected from now on."""
    if public_ids:
        connection.execute(
            update(Credential)
            .where(col(Credential.public_id).in_(public_ids))
            .values(status=CredentialStatus.RETIRED, updated_at=now)
        )


def add_provisioned(
    session: Session,
    *,
    public_id: str,
    customer_id: int,
    device_row: int | None,
    stored: WrappedSeed,
    algorithm: Algorithm,
    digits: int,
    period: int,
    now: float,
) -> None:
    """Store the TOTP credential an enrollment provisioned to a device (`device_row`: the
    device's row id), its seed as the HSM wrapped it."""
    session.add(
        Credential(
            public_id=public_id,
            customer_id=customer_id,
            device_id=device_row,
            kind=CredentialKind.TOTP,
            wrapped_seed=stored.blob,
            kek_version=stored.kek_version,
            seed_length=stored.length,
            algorithm=algorithm.value,
            digits=digits,
            period=period,
            created_at=now,
            updated_at=now,
        )
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
