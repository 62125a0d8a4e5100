"""The enrollment's SQL: registrations, activations and devices, and the conditional
UPDATEs that make a code's tries and its redemption count once however many requests race
(see `rules.py`'s docstring). Typed reads and writes; no rule lives here.
"""

from __future__ import annotations

from sqlalchemy import Connection, update
from sqlmodel import Session, col, func, select

from server.db.models import Activation, Device, EnrollmentStatus, Registration

Pending = type[Registration] | type[Activation]
"""The two kinds of pending record a code is redeemed against."""


# -- both kinds of pending record ---------------------------------------------------------


def write_status(session: Session, record: Registration | Activation, status: str) -> None:
    """Write down the status the rules gave a record (an expiry found on reading it)."""
    if record.status != status:
        record.status = status
        session.add(record)


def reserve_attempt(connection: Connection, table: Pending, record_id: str, allowed: int) -> bool:
    """Spend one try before the code is compared, in one atomic UPDATE: parallel guesses
    cannot get more than `allowed` comparisons between them. True when a try was left."""
    c = table.__table__.c  # type: ignore[union-attr]
    return (
        connection.execute(
            update(table)
            .where(c.id == record_id)
            .where(c.status == EnrollmentStatus.PENDING)
            .where(c.attempts < allowed)
            .values(attempts=c.attempts + 1)
        ).rowcount
        == 1
    )


def void_if_spent(connection: Connection, table: Pending, record_id: str, allowed: int) -> None:
    """After a wrong code: when every try is spent the record is void."""
    c = table.__table__.c  # type: ignore[union-attr]
    connection.execute(
        update(table)
        .where(c.id == record_id)
        .where(c.status == EnrollmentStatus.PENDING)
        .where(c.attempts >= allowed)
        .values(status=EnrollmentStatus.FAILED)
    )


def claim(
    connection: Connection, table: Pending, record_id: str, credential_id: str, now: float
) -> bool:
    """Complete the pending record for `credential_id`; True when this call did (a code is
    redeemed exactly once)."""
    c = table.__table__.c  # type: ignore[union-attr]
    claimed: int = connection.execute(
        update(table)
        .where(c.id == record_id)
        .where(c.status == EnrollmentStatus.PENDING)
        .values(status=EnrollmentStatus.COMPLETED, completed_at=now, credential_id=credential_id)
    ).rowcount
    return claimed == 1


# -- registrations ------------------------------------------------------------------------


def registration(session: Session, registration_id: str) -> Registration | None:
    return session.get(Registration, registration_id)


def add_registration(
    session: Session,
    *,
    registration_id: str,
    customer_id: int,
    device_id: str,
    public_key: bytes,
    code_digest: str,
    expires_at: float,
    now: float,
) -> None:
    """A pending registration for the token key that asked, with its code's digest."""
    session.add(
        Registration(
            id=registration_id,
            customer_id=customer_id,
            device_id=device_id,
            public_key=public_key,
            code_digest=code_digest,
            expires_at=expires_at,
            created_at=now,
        )
    )


def registrations_since(session: Session, customer_id: int | None, since: float) -> int:
    """How many registrations the customer started after `since`."""
    count: int = session.exec(
        select(func.count())
        .select_from(Registration)
        .where(Registration.customer_id == customer_id)
        .where(col(Registration.created_at) > since)
    ).one()
    return count


def fail_registration(connection: Connection, registration_id: str) -> None:
    """Nobody can confirm this registration any more (its e-mail did not go out)."""
    connection.execute(
        update(Registration)
        .where(col(Registration.id) == registration_id)
        .values(status=EnrollmentStatus.FAILED)
    )


# -- activations --------------------------------------------------------------------------


def activation(session: Session, activation_id: str) -> Activation | None:
    return session.get(Activation, activation_id)


def add_activation(
    session: Session,
    *,
    activation_id: str,
    customer_id: int,
    device_id: str,
    token_kind: str,
    code_digest: str,
    expires_at: float,
    now: float,
) -> None:
    """A pending activation of the device ID a customer typed, with its code's digest."""
    session.add(
        Activation(
            id=activation_id,
            customer_id=customer_id,
            device_id=device_id,
            token_kind=token_kind,
            code_digest=code_digest,
            expires_at=expires_at,
            created_at=now,
        )
    )


def expire_pending_activations(connection: Connection, customer_id: int | None) -> None:
    """A new activation replaces the customer's pending ones."""
    connection.execute(
        update(Activation)
        .where(col(Activation.customer_id) == customer_id)
        .where(col(Activation.status) == EnrollmentStatus.PENDING)
        .values(status=EnrollmentStatus.EXPIRED)
    )


def pending_activations(session: Session, device_id: str) -> list[Activation]:
    """The pending activations of a device ID (as stored, their time not checked), newest
    first."""
    return list(
        session.exec(
            select(Activation)
            .where(Activation.device_id == device_id)
            .where(Activation.status == EnrollmentStatus.PENDING)
            .order_by(col(Activation.created_at).desc())
        ).all()
    )


# -- devices ------------------------------------------------------------------------------


def device_status(connection: Connection, device_id: str) -> str | None:
    """The status of the device with this ID; None when none was ever bound."""
    status: str | None = connection.execute(
        select(Device.status).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    return status


def device(session: Session, device_id: str) -> Device | None:
    """The device bound to this device ID, if any."""
    return session.exec(select(Device).where(Device.device_id == device_id)).first()


def add_device(session: Session, device_id: str, public_key: bytes, now: float) -> Device:
    """Bind a new device ID to the token key; its row id is known on return."""
    added = Device(device_id=device_id, public_key=public_key, created_at=now)
    session.add(added)
    session.flush()
    return added
