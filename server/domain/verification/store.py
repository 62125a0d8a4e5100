"""The verification's SQL: what a batch reads and the conditional writes that make a code
count once and a failure count only while unlocked (see `service.py`'s docstring). Typed
reads and writes; no rule lives here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    or_,
    tuple_,
    update,
)
from sqlmodel import col, select

from server.db.driver import DriverStatement
from server.db.engine import per_dialect
from server.db.models import (
    Credential,
    CredentialStatus,
    Customer,
    CustomerStatus,
    GuessBudgets,
    SignatureUse,
)
from server.domain.verification.rules import (
    WHOLE,
    CredentialState,
    GuessBudget,
    credential_key,
)

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
_LOAD_BUDGETS = DriverStatement(
    select(
        col(GuessBudgets.key),
        col(GuessBudgets.tokens),
        col(GuessBudgets.updated_at),
        col(GuessBudgets.last_success),
    ).where(col(GuessBudgets.key).in_(bindparam("keys", expanding=True)))
)


def _refilled() -> Any:
    """The bucket's level now, in SQL (both dialects): refilled since its last write, capped.
    A batch prepared a moment before the last write (another server's, committed first)
    refills nothing: a negative time would take a fraction of a guess with it."""
    updated = col(GuessBudgets.updated_at)
    since: Any = case((bindparam("now") > updated, bindparam("now") - updated), else_=0.0)
    grown = col(GuessBudgets.tokens) + since * bindparam("rate")
    return case((grown >= bindparam("cap"), bindparam("cap")), else_=grown)


def _latest() -> Any:
    """The bucket's new time: `now`, or the later time another batch wrote."""
    updated = col(GuessBudgets.updated_at)
    return case((updated > bindparam("now"), updated), else_=bindparam("now"))


# One guess spent, atomically: a missing bucket is made full with one taken; an existing one
# is refilled and one taken only if a whole guess is left (else no row comes back).
_SPEND = per_dialect(
    lambda dialect: (
        dialect.insert(GuessBudgets)
        .values(key=bindparam("key"), tokens=bindparam("cap") - 1, updated_at=bindparam("now"))
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"tokens": _refilled() - 1, "updated_at": _latest()},
            where=_refilled() >= WHOLE,
        )
        .returning(col(GuessBudgets.tokens))
    )
)
_REMEMBER = per_dialect(
    lambda dialect: (
        dialect.insert(GuessBudgets)
        .values(
            key=bindparam("key"),
            tokens=bindparam("cap"),
            updated_at=bindparam("now"),
            last_success=bindparam("now"),
        )
        .on_conflict_do_update(index_elements=["key"], set_={"last_success": bindparam("now")})
    )
)


def _pruning(keys: tuple[Any, ...], old: Any) -> dict[str, Any]:
    """A DELETE of the rows `old` selects, by dialect. Pruning takes no lock in the batches'
    order: on PostgreSQL it skips the rows a batch holds (in use, so not old) instead of
    waiting for them while holding others."""
    table = keys[0].table
    skipping = select(*keys).where(old).with_for_update(skip_locked=True)
    return {
        "sqlite": delete(table).where(old),
        "postgresql": delete(table).where(tuple_(*keys).in_(skipping)),
    }


_PRUNE_BUDGETS = _pruning(
    (col(GuessBudgets.key),),
    and_(
        col(GuessBudgets.updated_at) < bindparam("before"),
        or_(
            col(GuessBudgets.last_success).is_(None),
            col(GuessBudgets.last_success) < bindparam("before"),
        ),
    ),
)
# The rows a batch may write, locked before it writes any (`lock_in_order`). Only run on
# PostgreSQL: SQLite's write transaction holds the whole database.
_LOCK_CREDENTIALS = DriverStatement(
    select(col(Credential.id))
    .where(col(Credential.id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Credential.id))
    .with_for_update()
)
# A missing bucket is made as a missing one reads (full), an existing one locked as it is:
# one statement, rows taken in the order of the arrays (WITH ORDINALITY). Written for
# PostgreSQL's driver once: a multi-row VALUES is a new statement for SQLAlchemy to compile
# for every batch (~0.3 ms of CPU each time, measured).
_LOCK_BUDGETS = """
INSERT INTO guess_budgets (key, tokens, updated_at)
SELECT b.key, b.tokens, %(now)s
FROM unnest(%(keys)s::varchar[], %(tokens)s::float8[]) WITH ORDINALITY AS b(key, tokens, n)
ORDER BY b.n
ON CONFLICT (key) DO UPDATE SET tokens = guess_budgets.tokens
RETURNING key, tokens, updated_at, last_success
"""
# A signature remembered once: only for an active credential that is not locked (a lock
# written by a parallel wrong guess since the row was read still holds), and not twice.
# On the driver's cursor (see server.db.driver): once per signed transfer.
_ACCEPT_SIGNATURE = per_dialect(
    lambda dialect: DriverStatement(
        dialect.insert(SignatureUse)
        .from_select(
            ["credential_id", "time_step", "question", "used_at"],
            select(
                bindparam("cid", type_=Integer),
                bindparam("step", type_=BigInteger),
                bindparam("question", type_=String),
                bindparam("now", type_=Float),
            )
            .where(col(Credential.id) == bindparam("cid"))
            .where(col(Credential.status) == CredentialStatus.ACTIVE)
            .where(_not_locked(col(Credential.locked_until))),
        )
        .on_conflict_do_nothing()
        # a row back when one went in (psycopg's rowcount is -1 for an INSERT … SELECT)
        .returning(col(SignatureUse.time_step))
    )
)
_LEARN_DRIFT = DriverStatement(
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .values(drift=bindparam("new_drift"), updated_at=bindparam("now"))
)
_PRUNE_SIGNATURES = _pruning(
    (
        col(SignatureUse.credential_id),
        col(SignatureUse.time_step),
        col(SignatureUse.question),
    ),
    col(SignatureUse.used_at) < bindparam("before"),
)
_FORGET_CREDENTIAL = delete(GuessBudgets).where(col(GuessBudgets.key).like(bindparam("prefix")))


@dataclass(frozen=True)
class BudgetRow:
    """A stored bucket: tokens at `updated_at`; `last_success` for a context's pool."""

    tokens: float
    updated_at: float
    last_success: float | None


def read(connection: Connection, usernames: Sequence[str]) -> dict[str, list[CredentialState]]:
    """The active credentials of each active customer named (every name is a key)."""
    found: dict[str, list[CredentialState]] = {name: [] for name in usernames}
    for username, *state in _LOAD_CREDENTIALS.rows(connection, {"usernames": sorted(found)}):
        found[username].append(CredentialState(*state))
    return found


def budgets(connection: Connection, keys: Sequence[str]) -> dict[str, BudgetRow]:
    """The stored buckets among `keys` (a key without a row is a full bucket)."""
    if not keys:
        return {}
    rows = _LOAD_BUDGETS.rows(connection, {"keys": sorted(set(keys))})
    return {key: BudgetRow(tokens, updated, last) for key, tokens, updated, last in rows}


def lock_in_order(
    connection: Connection, credential_ids: Sequence[int], buckets: Mapping[str, float], now: float
) -> dict[str, BudgetRow]:
    """Lock every row a verify batch may write before it writes any, in the order every
    writer takes (docs/design.md §4, "Lock order"): the credentials by id, then the
    buckets by key; returns the buckets. `buckets` maps each key to its capacity: a
    missing bucket is stored full (as a missing one reads), so that inserting it takes its
    place in the order too. Two batches then wait for each other instead of deadlocking.

    SQLite's write transaction holds the whole database: there the buckets are only read.
    """
    keys = sorted(buckets)
    if connection.dialect.name != "postgresql":
        return budgets(connection, keys)
    if credential_ids:
        _LOCK_CREDENTIALS.rows(connection, {"ids": sorted(set(credential_ids))})
    if not keys:
        return {}
    params = {"keys": keys, "tokens": [float(buckets[key]) for key in keys], "now": now}
    rows = connection.exec_driver_sql(_LOCK_BUDGETS, params).all()
    return {key: BudgetRow(tokens, updated, last) for key, tokens, updated, last in rows}


def spend(connection: Connection, key: str, budget: GuessBudget, now: float) -> float | None:
    """Take one guess from the bucket `key`: the guesses left after it, or None when there
    was no whole guess to take (another process took the last since it was read)."""
    params = {"key": key, "cap": budget.capacity, "rate": budget.per_second, "now": now}
    left = connection.execute(_SPEND[connection.dialect.name], params).scalar()
    return None if left is None else float(left)


def remember_context(connection: Connection, key: str, budget: GuessBudget, now: float) -> None:
    """Note a success from a context: its own bucket from now on (`rules.familiar`)."""
    params = {"key": key, "cap": budget.capacity, "now": now}
    connection.execute(_REMEMBER[connection.dialect.name], params)


def prune_budgets(connection: Connection, before: float) -> None:
    """Forget buckets untouched since `before` (full again by then) and old contexts."""
    connection.execute(_PRUNE_BUDGETS[connection.dialect.name], {"before": before})


def forget_credential(connection: Connection, credential_id: int) -> None:
    """Every bucket of a credential: an officer's unlock gives its budgets back in full."""
    connection.execute(_FORGET_CREDENTIAL, {"prefix": credential_key(credential_id, "%")})


def accept(connection: Connection, credential_id: int, step: int, drift: int, now: float) -> bool:
    """Move the credential's last step to `step` if no one used it (or a later one) first
    and it is not locked; True when this call did."""
    params = {"cid": credential_id, "step": step, "new_drift": drift, "now": now}
    return bool(_ACCEPT.rowcount(connection, params) == 1)


def accept_signature(
    connection: Connection, credential_id: int, time_step: int, question: str, now: float
) -> bool:
    """Remember the signature of `question` at `time_step` if no one used it first and the
    credential is active and not locked; True when this call did."""
    params = {"cid": credential_id, "step": time_step, "question": question, "now": now}
    return bool(_ACCEPT_SIGNATURE[connection.dialect.name].rows(connection, params))


def learn_drift(connection: Connection, credential_id: int, drift: int, now: float) -> None:
    """Note how far ahead the credential's clock runs, in its steps."""
    _LEARN_DRIFT.rowcount(connection, {"cid": credential_id, "new_drift": drift, "now": now})


def prune_signatures(connection: Connection, before: float) -> None:
    """Forget signatures accepted before `before` (no step that old is in any window)."""
    connection.execute(_PRUNE_SIGNATURES[connection.dialect.name], {"before": before})
