"""The credentials' SQL: the officer's reads (a credential and its customer, the list) and
writes (an imported credential, a changed one), what the token and the portal ask (whether
a customer has a token, the credential a token owns), and the writes of an enrollment (the
new credential in, the customer's others retired). Typed reads and writes; no rule lives
here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, update
from sqlmodel import Session, col, select

from hsm import Algorithm, ProvisionedOcraSeed, WrappedSeed
from server.db.models import Credential, CredentialKind, CredentialStatus, Customer, Device
from server.domain.credentials.rules import SeedImport


def with_customer(session: Session, public_id: str) -> tuple[Credential, Customer] | None:
    """The credential and its customer; None when there is no such credential."""
    row = session.exec(
        select(Credential, Customer)
        .join(Customer, col(Customer.id) == col(Credential.customer_id))
        .where(Credential.public_id == public_id)
    ).first()
    return None if row is None else (row[0], row[1])


def listed(session: Session, username: str | None) -> list[tuple[Credential, str]]:
    """Credentials with their customer's username, newest first; only the customer's whose
    (normalised) username is `username`, unless it is None."""
    statement = select(Credential, Customer.username).join(
        Customer, col(Customer.id) == col(Credential.customer_id)
    )
    if username is not None:
        statement = statement.where(Customer.username == username)
    rows = session.exec(statement.order_by(col(Credential.id).desc())).all()
    return [(credential, name) for credential, name in rows]


def add_imported(
    session: Session,
    *,
    public_id: str,
    customer_id: int,
    spec: SeedImport,
    stored: WrappedSeed,
    last_step: int,
    now: float,
) -> Credential:
    """Store a credential imported from `spec`, its seed as the HSM wrapped it; its row id
    is known when this returns."""
    credential = Credential(
        public_id=public_id,
        customer_id=customer_id,
        kind=spec.kind,
        serial=spec.serial,
        wrapped_seed=stored.blob,
        kek_version=stored.kek_version,
        seed_length=stored.length,
        algorithm=spec.algorithm.value,
        digits=spec.digits,
        period=spec.period,
        last_step=last_step,
        created_at=now,
        updated_at=now,
    )
    session.add(credential)
    session.flush()
    return credential


def save(session: Session, credential: Credential) -> None:
    """Write a credential the caller changed, with the caller's transaction."""
    session.add(credential)


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


def active_tokens(connection: Connection, customer_id: int | None) -> list[tuple[str, str | None]]:
    """The kind and OCRA suite (None: no OCRA seed) of each of the customer's active
    credentials."""
    rows = connection.execute(
        select(Credential.kind, Credential.ocra_suite)
        .where(Credential.customer_id == customer_id)
        .where(Credential.status == CredentialStatus.ACTIVE)
    )
    return [(kind, suite) for kind, suite in rows]


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
    ocra: ProvisionedOcraSeed | None = None,
) -> None:
    """Store the TOTP credential an enrollment provisioned to a device (`device_row`: the
    device's row id), its seed as the HSM wrapped it, and its OCRA seed if it has one
    (wrapped under the same KEK version)."""
    if ocra is not None and ocra.stored.kek_version != stored.kek_version:
        raise ValueError("a credential's two seeds are wrapped under one KEK version")
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
            ocra_suite=None if ocra is None else ocra.suite.text,
            ocra_wrapped_seed=None if ocra is None else ocra.stored.blob,
            ocra_seed_length=None if ocra is None else ocra.stored.length,
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
