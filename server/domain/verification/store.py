"""The verification's SQL: what a batch reads and the conditional writes that make a code
count once and a failure count only while unlocked (see `service.py`'s docstring). Typed
reads and writes; no rule lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, bindparam, delete, or_, update
from sqlmodel import col, select

from server.db.driver import DriverStatement
from server.db.engine import per_dialect
from server.db.models import (
    Credential,
    CredentialStatus,
    Customer,
    CustomerStatus,
    UnknownUserFailures,
)
from server.domain.verification.rules import CredentialState

_STATE_COLUMNS = [getattr(Credential, f.name) for f in fields(CredentialState)]
# Read once per verify batch, on the driver's cursor (see server.db.driver).
_LOAD_CREDENTIALS = DriverStatement(
    select(col(Customer.username), *_STATE_COLUMNS)
    .join(Customer, col(Customer.id) == col(Credential.customer_id))
    .where(col(Customer.username).in_(bindparam("usernames", expanding=True)))
    .where(col(Customer.status) == CustomerStatus.ACTIVE)
    .where(col(Credential.status) == CredentialStatus.ACTIVE)
    .order_by(col(Credential.id))
)


def _not_locked(locked_until: Any) -> Any:
    return or_(locked_until.is_(None), locked_until <= bindparam("now"))


# The hot path's writes, built once (building a statement costs more than running it).
# The acceptance runs once per request: on the driver's cursor (see server.db.driver).
_ACCEPT = DriverStatement(
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .where(col(Credential.last_step) < bindparam("step"))
    .where(col(Credential.status) == CredentialStatus.ACTIVE)
    # a lock written by a parallel wrong guess since we read the row still holds
    .where(_not_locked(col(Credential.locked_until)))
    .values(
        last_step=bindparam("step"),
        drift=bindparam("new_drift"),
        failure_count=0,
        lockouts=0,
        locked_until=None,
        updated_at=bindparam("now"),
    )
)
# A failure counts only while the credential is not locked (a lock written since the read
# holds; the refusals during a lock are not counted again).
_COUNT_FAILURE = (
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .where(_not_locked(col(Credential.locked_until)))
    .values(failure_count=col(Credential.failure_count) + 1, updated_at=bindparam("now"))
    .returning(col(Credential.failure_count), col(Credential.lockouts))
)
_LOCKED_UNTIL = select(col(Credential.locked_until)).where(col(Credential.id) == bindparam("cid"))
_LOAD_UNKNOWN = DriverStatement(
    select(col(UnknownUserFailures.username), col(UnknownUserFailures.locked_until)).where(
        col(UnknownUserFailures.username).in_(bindparam("usernames", expanding=True))
    )
)
_UNKNOWN_LOCKED_UNTIL = select(col(UnknownUserFailures.locked_until)).where(
    col(UnknownUserFailures.username) == bindparam("username")
)


_COUNT_UNKNOWN = per_dialect(
    lambda dialect: (
        dialect.insert(UnknownUserFailures)
        .values(
            username=bindparam("username"),
            failure_count=1,
            lockouts=0,
            updated_at=bindparam("now"),
        )
        .on_conflict_do_update(
            index_elements=["username"],
            set_={
                "failure_count": col(UnknownUserFailures.failure_count) + 1,
                "updated_at": bindparam("now"),
            },
            # as for customers: no failure counts while the name is locked out
            where=_not_locked(col(UnknownUserFailures.locked_until)),
        )
        .returning(col(UnknownUserFailures.failure_count), col(UnknownUserFailures.lockouts))
    )
)
_LOCK_UNKNOWN = (
    update(UnknownUserFailures)
    .where(col(UnknownUserFailures.username) == bindparam("name"))
    .values(failure_count=0, lockouts=bindparam("new_lockouts"), locked_until=bindparam("until"))
)
_PRUNE_UNKNOWN = delete(UnknownUserFailures).where(
    col(UnknownUserFailures.updated_at) < bindparam("before")
)
_LOCK = (
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .values(failure_count=0, lockouts=bindparam("new_lockouts"), locked_until=bindparam("until"))
)


def read(connection: Connection, usernames: Sequence[str]) -> dict[str, list[CredentialState]]:
    """The active credentials of each active customer named (every name is a key)."""
    found: dict[str, list[CredentialState]] = {name: [] for name in usernames}
    for username, *state in _LOAD_CREDENTIALS.rows(connection, {"usernames": sorted(found)}):
        found[username].append(CredentialState(*state))
    return found


def unknown_locks(connection: Connection, usernames: Sequence[str]) -> dict[str, float | None]:
    """The stand-in lock-outs of usernames that have no credential."""
    if not usernames:
        return {}
    return dict(_LOAD_UNKNOWN.rows(connection, {"usernames": sorted(usernames)}))


def accept(connection: Connection, credential_id: int, step: int, drift: int, now: float) -> bool:
    """Move the credential's last step to `step` if no one used it (or a later one) first
    and it is not locked; True when this call did."""
    params = {"cid": credential_id, "step": step, "new_drift": drift, "now": now}
    return bool(_ACCEPT.rowcount(connection, params) == 1)


def count_failure(connection: Connection, credential_id: int, now: float) -> tuple[int, int] | None:
    """One more failure (failures, lock-outs so far); None when the credential is locked."""
    counted = connection.execute(_COUNT_FAILURE, {"cid": credential_id, "now": now}).first()
    return None if counted is None else (counted[0], counted[1])


def locked_until(connection: Connection, credential_id: int) -> float | None:
    locked: float | None = connection.execute(_LOCKED_UNTIL, {"cid": credential_id}).scalar_one()
    return locked


def lock(connection: Connection, credential_id: int, lockouts: int, until: float) -> None:
    """Lock the credential until `until`, its failures reset, `lockouts` counted."""
    connection.execute(_LOCK, {"cid": credential_id, "new_lockouts": lockouts, "until": until})


def count_unknown(connection: Connection, username: str, now: float) -> tuple[int, int] | None:
    """One more failure for a username without a credential; None while it is locked."""
    statement = _COUNT_UNKNOWN[connection.dialect.name]
    counted = connection.execute(statement, {"username": username, "now": now}).first()
    return None if counted is None else (counted[0], counted[1])


def unknown_locked_until(connection: Connection, username: str) -> float | None:
    until: float | None = connection.execute(
        _UNKNOWN_LOCKED_UNTIL, {"username": username}
    ).scalar_one()
    return until


def lock_unknown(connection: Connection, username: str, lockouts: int, until: float) -> None:
    connection.execute(_LOCK_UNKNOWN, {"name": username, "new_lockouts": lockouts, "until": until})


def prune_unknown(connection: Connection, before: float) -> None:
    """Forget usernames nobody has tried since `before`."""
    connection.execute(_PRUNE_UNKNOWN, {"before": before})
