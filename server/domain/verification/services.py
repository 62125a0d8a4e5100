"""Deciding whether a code is good: window, drift, exactly-once, lock-out, rate limit, audit.

The decision runs in three steps so that no database lock is held while the HSM works:
read the credential; compute the window's codes in the HSM; then one transaction that
applies the decision with a conditional UPDATE (`last_step < :step`), which is what makes a
code count at most once even when processes race, and appends the audit event.
"""

from __future__ import annotations

import enum
import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, or_, update
from sqlmodel import col, select

from hsm import Algorithm, Hsm, HsmError, WrappedSeed, totp_counter
from server.clock import Clock
from server.db.engine import Database
from server.db.models import (
    Credential,
    CredentialKind,
    CredentialStatus,
    Customer,
    CustomerStatus,
)
from server.domain.audit.services import AuditLog, AuditRecord
from server.domain.ratelimit import FailureLimit
from server.metrics import Metrics

log = structlog.get_logger("server.verify")


class Result(enum.StrEnum):
    """The answer the relying party gets."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class VerifyPolicy:
    """Windows and limits (DESIGN.md §4)."""

    totp_window: int = 1
    hotp_look_ahead: int = 10
    max_drift: int = 10
    lockout_threshold: int = 5
    lockout_base_seconds: float = 60.0
    lockout_max_seconds: float = 3600.0
    source_failure_limit: int = 50
    source_window_seconds: int = 60


@dataclass(frozen=True)
class VerifyRequest:
    """One code to check, with what it approves."""

    username: str
    code: str
    purpose: str
    client: str
    source: str = ""
    transaction: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CredentialState:
    """What a verification reads of a credential (one row, no ORM object)."""

    id: int
    public_id: str
    kind: str
    wrapped_seed: bytes
    kek_version: int
    seed_length: int
    algorithm: str
    digits: int
    period: int
    last_step: int
    drift: int
    locked_until: float | None


_STATE_COLUMNS = [getattr(Credential, f.name) for f in fields(CredentialState)]
_LOAD_CREDENTIALS = (
    select(*_STATE_COLUMNS)
    .join(Customer, col(Customer.id) == col(Credential.customer_id))
    .where(col(Customer.username) == bindparam("username"))
    .where(col(Customer.status) == CustomerStatus.ACTIVE)
    .where(col(Credential.status) == CredentialStatus.ACTIVE)
    .order_by(col(Credential.id))
)


# The hot path's writes, built once (building a statement costs more than running it).
_ACCEPT = (
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .where(col(Credential.last_step) < bindparam("step"))
    .where(col(Credential.status) == CredentialStatus.ACTIVE)
    # a lock written by a parallel wrong guess since we read the row still holds
    .where(
        or_(
            col(Credential.locked_until).is_(None), col(Credential.locked_until) <= bindparam("now")
        )
    )
    .values(
        last_step=bindparam("step"),
        drift=bindparam("new_drift"),
        failure_count=0,
        lockouts=0,
        locked_until=None,
        updated_at=bindparam("now"),
    )
)
_COUNT_FAILURE = (
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .values(failure_count=col(Credential.failure_count) + 1, updated_at=bindparam("now"))
    .returning(col(Credential.failure_count), col(Credential.lockouts))
)
_LOCK = (
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .values(failure_count=0, lockouts=bindparam("new_lockouts"), locked_until=bindparam("until"))
)


@dataclass(frozen=True)
class Outcome:
    """The decision. `reason` goes to the audit only; callers see `result`."""

    result: Result
    reason: str
    credential_id: str | None = None
    retry_after: int | None = None
    step: int | None = None


def window_counters(
    credential: Credential | CredentialState, now: float, policy: VerifyPolicy
) -> list[int]:
    """The counters (TOTP steps or HOTP counters) a code may match, last used ones included."""
    if credential.kind == CredentialKind.HOTP:
        first = credential.last_step + 1
        return list(range(first, first + policy.hotp_look_ahead))
    centre = totp_counter(now, credential.period) + credential.drift
    return list(range(centre - policy.totp_window, centre + policy.totp_window + 1))


def wrapped(credential: Credential | CredentialState) -> WrappedSeed:
    """The credential's seed as the HSM layer takes it."""
    return WrappedSeed(credential.wrapped_seed, credential.kek_version, credential.seed_length)


def match(codes: Sequence[str], counters: Sequence[int], code: str) -> int | None:
    """The counter whose code equals `code`, comparing every one in constant time."""
    found = None
    for counter, candidate in zip(counters, codes, strict=True):
        if hmac.compare_digest(candidate.encode(), code.encode()) and found is None:
            found = counter
    return found


class VerificationService:
    """Checks codes for the verify API and the portal."""

    def __init__(
        self,
        db: Database,
        hsm: Hsm,
        audit: AuditLog,
        clock: Clock,
        policy: VerifyPolicy,
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._hsm = hsm
        self._audit = audit
        self._clock = clock
        self.policy = policy
        self._metrics = metrics
        self._decoy: WrappedSeed | None = None
        self._limit = FailureLimit(
            policy.source_failure_limit, policy.source_window_seconds, postgres=db.is_postgres
        )

    def verify(self, request: VerifyRequest) -> Outcome:
        """Decide on `request`; every decision is audited.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was half-written.
        """
        now = self._clock()
        source_key = f"{request.client}|{request.source}"
        with self._db.reading() as connection:
            # without a source there is no per-source limit: a shared bucket (the bank's
            # own address) would let one attacker block every customer
            limited = bool(request.source) and self._limit.exceeded(connection, source_key, now)
            credentials = [
                CredentialState(*row)
                for row in connection.execute(
                    _LOAD_CREDENTIALS, {"username": request.username.strip().lower()}
                )
            ]
        if limited:
            outcome = Outcome(
                Result.RATE_LIMITED, "source_rate_limited", retry_after=self._limit.retry_after(now)
            )
        else:
            outcome = self._decide(request, credentials, now)
        with self._db.engine.begin() as connection:
            outcome = self._apply(connection, outcome, credentials, now)
            failed = outcome.result in (Result.REJECTED, Result.LOCKED)
            if failed and outcome.reason != "locked" and request.source:
                self._limit.count(connection, source_key, now)
            self._record(connection, request, outcome)
        return outcome

    # -- steps -----------------------------------------------------------------------------

    def _decide(
        self, request: VerifyRequest, credentials: list[CredentialState], now: float
    ) -> Outcome:
        """Compute the window's codes in the HSM and compare; no database access."""
        if not credentials:
            if not self._spend_like_a_check():
                return Outcome(Result.UNAVAILABLE, "hsm_unavailable", retry_after=1)
            return Outcome(Result.REJECTED, "unknown_user")
        usable = [c for c in credentials if not c.locked_until or c.locked_until <= now]
        if not usable:
            until = min(c.locked_until or now for c in credentials)
            return Outcome(
                Result.LOCKED,
                "locked",
                credentials[0].public_id,
                retry_after=max(1, math.ceil(until - now)),
            )
        for credential in usable:
            counters = window_counters(credential, now, self.policy)
            try:
                codes = self._hsm.otp_values(
                    wrapped(credential),
                    Algorithm.parse(credential.algorithm),
                    credential.digits,
                    counters,
                )
            except HsmError as exc:
                self._metrics.hsm_operations.labels("otp_values", "error").inc()
                log.warning("verify.hsm_unavailable", reason=str(exc))
                return Outcome(Result.UNAVAILABLE, "hsm_unavailable", retry_after=1)
            self._metrics.hsm_operations.labels("otp_values", "ok").inc()
            step = match(codes, counters, request.code)
            if step is not None:
                reason = "replay" if step <= credential.last_step else "match"
                return Outcome(Result.ACCEPTED, reason, credential.public_id, step=step)
        return Outcome(Result.REJECTED, "wrong_code", usable[0].public_id)

    def _spend_like_a_check(self) -> bool:
        """Do the HSM work of a real check, so unknown users answer in the same time (and
        say "unavailable" like everybody else while the HSM is away)."""
        try:
            if self._decoy is None:
                self._decoy = self._hsm.generate_seed(Algorithm.SHA1)
            self._hsm.otp_values(self._decoy, Algorithm.SHA1, 6, [0, 1, 2])
        except HsmError:
            return False
        return True

    def _apply(
        self,
        connection: Connection,
        outcome: Outcome,
        credentials: list[CredentialState],
        now: float,
    ) -> Outcome:
        """Write the decision; an acceptance only if no one else used this step first."""
        if outcome.result is not Result.ACCEPTED and outcome.reason != "wrong_code":
            return outcome
        credential = next(c for c in credentials if c.public_id == outcome.credential_id)
        if outcome.result is Result.ACCEPTED and outcome.reason == "match":
            assert outcome.step is not None  # noqa: S101 - set with every match
            step = outcome.step
            drift = 0
            if credential.kind == CredentialKind.TOTP:
                drift = step - totp_counter(now, credential.period)
                drift = max(-self.policy.max_drift, min(self.policy.max_drift, drift))
            changed = connection.execute(
                _ACCEPT, {"cid": credential.id, "step": step, "new_drift": drift, "now": now}
            ).rowcount
            if changed == 1:
                return Outcome(Result.ACCEPTED, "accepted", credential.public_id)
        if outcome.result is Result.ACCEPTED:
            outcome = Outcome(Result.REJECTED, "replay", credential.public_id)
        return self._count_failure(connection, credential, outcome, now)

    def _count_failure(
        self, connection: Connection, credential: CredentialState, outcome: Outcome, now: float
    ) -> Outcome:
        failures, lockouts = connection.execute(
            _COUNT_FAILURE, {"cid": credential.id, "now": now}
        ).one()
        if failures < self.policy.lockout_threshold:
            return outcome
        seconds = min(
            self.policy.lockout_base_seconds * 2**lockouts, self.policy.lockout_max_seconds
        )
        connection.execute(
            _LOCK, {"cid": credential.id, "new_lockouts": lockouts + 1, "until": now + seconds}
        )
        return Outcome(
            Result.LOCKED,
            f"{outcome.reason}_locked",
            credential.public_id,
            retry_after=math.ceil(seconds),
        )

    def _record(self, connection: Connection, request: VerifyRequest, outcome: Outcome) -> None:
        details: dict[str, Any] = {}
        if request.transaction:
            details["transaction"] = dict(request.transaction)
        if outcome.credential_id:
            details["credential"] = outcome.credential_id
        if outcome.retry_after:
            details["retry_after"] = outcome.retry_after
        self._audit.append(
            connection,
            AuditRecord(
                actor=f"client:{request.client}",
                action="verify",
                subject=request.username,
                purpose=request.purpose,
                result=outcome.result.value,
                reason=outcome.reason,
                source=request.source,
                details=details,
            ),
        )
        self._metrics.verifications.labels(outcome.result.value, request.purpose).inc()
        log.info(
            "verify.decision",
            client=request.client,
            username=request.username,
            purpose=request.purpose,
            result=outcome.result.value,
            reason=outcome.reason,
        )
