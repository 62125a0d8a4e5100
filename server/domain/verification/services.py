"""Deciding whether a code is good: window, drift, exactly-once, lock-out, rate limit, audit.

A batch of requests is decided in two stages so that no database lock is held while the
HSM works. `prepare` reads the credentials and makes one HSM call that looks for each code
in its window. `commit` then applies each decision in one transaction, with statements
that hold whatever was written since the read (by another process, or by the batch
committed while this one was prepared): the acceptance is a conditional UPDATE
(`last_step < :step`, not locked), which makes a code count at most once even when
processes race; a failure is counted only on a credential that is not locked; the
per-source counts are read under the write lock. The audit events go in the same
transaction.
"""

from __future__ import annotations

import enum
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, delete, or_, update
from sqlmodel import col, select

from hsm import Algorithm, HsmError, OtpEngine, OtpJob, WrappedSeed, totp_counter
from server.clock import Clock
from server.db.driver import DriverStatement
from server.db.engine import Database, per_dialect
from server.db.models import (
    Credential,
    CredentialKind,
    CredentialStatus,
    Customer,
    CustomerStatus,
    UnknownUserFailures,
)
from server.domain.audit.services import AuditLog, AuditRecord
from server.domain.customers.services import normalise_username
from server.domain.ratelimit import FailureLimit
from server.metrics import Metrics

log = structlog.get_logger("server.verify")
_decisions = logging.getLogger("server.verify")


class Result(enum.StrEnum):
    """The answer the relying party gets."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class VerifyPolicy:
    """Windows and limits (docs/design.md §4)."""

    totp_window: int = 1
    hotp_look_ahead: int = 10
    max_drift: int = 10
    lockout_threshold: int = 5
    lockout_base_seconds: float = 60.0
    lockout_max_seconds: float = 3600.0
    source_failure_limit: int = 50
    source_window_seconds: int = 60
    unknown_user_retention_seconds: float = 90 * 86400


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
    """The counters (TOTP steps or HOTP counters) a code may match, likeliest first: the
    HSM stops at the first that matches. TOTP: the expected step, then one either side and
    so on (the used ones included, to tell a replay); HOTP: the next counters in order."""
    if credential.kind == CredentialKind.HOTP:
        first = credential.last_step + 1
        return list(range(first, first + policy.hotp_look_ahead))
    centre = totp_counter(now, credential.period) + credential.drift
    counters = [centre]
    for distance in range(1, policy.totp_window + 1):
        counters += [centre - distance, centre + distance]
    return counters


def wrapped(credential: Credential | CredentialState) -> WrappedSeed:
    """The credential's seed as the HSM layer takes it."""
    return WrappedSeed(credential.wrapped_seed, credential.kek_version, credential.seed_length)


@dataclass
class _Check:
    """One request of a batch on its way through the three steps."""

    request: VerifyRequest
    source_key: str | None
    """Where the failures of this request are counted: None without a source (no limit:
    a shared bucket, the bank's own address, would let one attacker block every customer)."""
    username: str
    credentials: list[CredentialState]
    unknown_locked_until: float | None = None
    """For a username without a credential: its stand-in lock-out (see `_count_unknown`)."""
    outcome: Outcome | None = None
    jobs: list[tuple[CredentialState | None, list[int]]] = field(default_factory=list)
    """(credential, counters) whose values the HSM computes; None is the decoy seed."""
    found: list[int | HsmError | None] = field(default_factory=list)
    """The HSM's answer for each job: the counter the code matched, or None."""


@dataclass(frozen=True)
class Prepared:
    """A batch between `VerificationService.prepare` and `commit`."""

    checks: list[_Check]
    now: float


class VerificationService:
    """Checks codes for the verify API and the portal.

    `verify_many` decides a batch with one read, one hop to the HSM and one transaction
    (one audit seal); the verify API feeds it the requests that arrive together, see
    `batching.VerifyBatcher`.
    """

    def __init__(
        self,
        db: Database,
        hsm: OtpEngine,
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
        self._decoy_seed: WrappedSeed | None = None
        self._pruned_at = 0.0
        self._limit = FailureLimit(policy.source_failure_limit, policy.source_window_seconds)

    def verify(self, request: VerifyRequest) -> Outcome:
        """Decide on `request`; every decision is audited.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was half-written.
        """
        return self.verify_many([request])[0]

    def verify_many(self, requests: Sequence[VerifyRequest]) -> list[Outcome]:
        """Decide on each request, in order, as if they came one after the other: a code
        used twice in the batch counts once, a lock-out written for one request holds for
        the next. Every decision is audited; all are written in one transaction.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was written.
        """
        if not requests:
            return []
        return self.commit(self.prepare(requests))

    def prepare(self, requests: Sequence[VerifyRequest]) -> Prepared:
        """The first stage: read the credentials (no lock taken) and let the HSM look for
        every code. Nothing is written, so a batch can be prepared while the one before
        it commits.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database could not be read.
        """
        now = self._clock()
        checks = self._read(requests, now)
        self._compute(checks, now)
        for check in checks:
            check.outcome = self._decide(check, now)
        return Prepared(checks, now)

    def commit(self, prepared: Prepared) -> list[Outcome]:
        """The second stage: apply the decisions of `prepare` in one transaction, against
        the state as it is now (see the module's docstring), with the audit events.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was written.
        """
        checks, now = prepared.checks, prepared.now
        with self._db.engine.begin() as connection:
            # read in the write transaction, after the batch before this one committed
            # (under SQLite's write lock; PostgreSQL reads what is committed by then)
            failures = self._limit.counts(
                connection, (c.source_key for c in checks if c.source_key), now
            )
            locked_now: dict[int | str, float] = {}
            for check in checks:
                check.outcome = self._apply_in_order(connection, check, now, locked_now, failures)
            self._audit.append_many(connection, [_audit_record(c) for c in checks])
        outcomes = []
        decided: Counter[tuple[str, str]] = Counter()
        for check in checks:
            assert check.outcome is not None  # noqa: S101
            self._log_decision(check.request, check.outcome)
            decided[(check.outcome.result.value, check.request.purpose)] += 1
            outcomes.append(check.outcome)
        for (result, purpose), count in decided.items():  # one labels() lookup per kind
            self._metrics.verifications.labels(result, purpose).inc(count)
        return outcomes

    # -- steps -----------------------------------------------------------------------------

    def _read(self, requests: Sequence[VerifyRequest], now: float) -> list[_Check]:
        """The credentials of every user, read without taking the write lock."""
        checks = [
            _Check(
                r,
                f"{r.client}|{r.source}" if r.source else None,
                normalise_username(r.username),
                [],
            )
            for r in requests
        ]
        found: dict[str, list[CredentialState]] = {c.username: c.credentials for c in checks}
        with self._db.reading() as connection:
            for username, *state in _LOAD_CREDENTIALS.rows(
                connection, {"usernames": sorted(found)}
            ):
                found[username].append(CredentialState(*state))
            unknown = sorted(name for name, credentials in found.items() if not credentials)
            locks = dict(_LOAD_UNKNOWN.rows(connection, {"usernames": unknown}) if unknown else [])
        for check in checks:
            check.credentials = found[check.username]
            check.unknown_locked_until = locks.get(check.username)
        return checks

    def _compute(self, checks: list[_Check], now: float) -> None:
        """One hop to the HSM to look for every request's code in the windows of its usable
        credentials (and the same work for unknown users, so they answer like everybody
        else)."""
        decoy_window = list(range(2 * self.policy.totp_window + 1))
        jobs: list[OtpJob] = []
        for check in checks:
            code = check.request.code
            locked = check.unknown_locked_until and check.unknown_locked_until > now
            if not check.credentials and not locked:
                check.jobs.append((None, decoy_window))
                jobs.append(OtpJob(self._decoy, Algorithm.SHA1, 6, decoy_window, code))
            for c in check.credentials:
                if not c.locked_until or c.locked_until <= now:
                    counters = window_counters(c, now, self.policy)
                    check.jobs.append((c, counters))
                    jobs.append(
                        OtpJob(wrapped(c), Algorithm.parse(c.algorithm), c.digits, counters, code)
                    )
        answers: list[int | HsmError | None]
        try:
            answers = self._hsm.find_codes(jobs) if jobs else []
        except HsmError as exc:
            log.warning("verify.hsm_unavailable", reason=str(exc))
            answers = [exc] * len(jobs)
        errors = sum(isinstance(a, HsmError) for a in answers)
        self._metrics.hsm_operations.labels("find_code", "error").inc(errors)
        self._metrics.hsm_operations.labels("find_code", "ok").inc(len(answers) - errors)
        position = iter(answers)
        for check in checks:
            check.found = [next(position) for _ in check.jobs]

    @property
    def _decoy(self) -> WrappedSeed:
        """A seed of nobody's: unknown users cost the HSM what a real check costs."""
        if self._decoy_seed is None:
            try:
                self._decoy_seed = self._hsm.generate_seed(Algorithm.SHA1)
            except HsmError:
                return _UNUSABLE  # the batch's HSM call fails anyway: the HSM is away
        return self._decoy_seed

    def _decide(self, check: _Check, now: float) -> Outcome:
        """Read the HSM's answers; no database access."""
        if any(isinstance(found, HsmError) for found in check.found):
            return Outcome(Result.UNAVAILABLE, "hsm_unavailable", retry_after=1)
        credentials = check.credentials
        if not credentials:
            until = check.unknown_locked_until
            if until and until > now:
                return _locked(None, until, now)
            return Outcome(Result.REJECTED, "unknown_user")
        if not check.jobs:
            return _locked(
                credentials[0].public_id, min(c.locked_until or now for c in credentials), now
            )
        for (credential, _), step in zip(check.jobs, check.found, strict=True):
            assert credential is not None and not isinstance(step, HsmError)  # noqa: S101
            if step is not None:
                reason = "replay" if step <= credential.last_step else "match"
                return Outcome(Result.ACCEPTED, reason, credential.public_id, step=step)
        first = check.jobs[0][0]
        assert first is not None  # noqa: S101
        return Outcome(Result.REJECTED, "wrong_code", first.public_id)

    def _apply_in_order(
        self,
        connection: Connection,
        check: _Check,
        now: float,
        locked_now: dict[int | str, float],
        failures: dict[str, int],
    ) -> Outcome:
        """Apply one decision after the source limit: `failures` holds each source's count,
        the failures of this batch so far included."""
        source = check.source_key
        if source and failures.get(source, 0) >= self._limit.limit:
            return Outcome(
                Result.RATE_LIMITED, "source_rate_limited", retry_after=self._limit.retry_after(now)
            )
        outcome = self._apply(connection, check, now, locked_now)
        failed = outcome.result in (Result.REJECTED, Result.LOCKED)
        if source and failed and outcome.reason != "locked":
            self._limit.count(connection, source, now)
            failures[source] = failures.get(source, 0) + 1
        return outcome

    def _apply(
        self, connection: Connection, check: _Check, now: float, locked_now: dict[int | str, float]
    ) -> Outcome:
        """Write the decision; an acceptance only if no one else used this step first.
        `locked_now` holds what was locked earlier in this batch (credential id or unknown
        username -> until)."""
        outcome = check.outcome
        assert outcome is not None  # noqa: S101 - every check is decided
        if outcome.reason == "unknown_user":
            if locked := _locked_earlier(locked_now, f"user:{check.username}", None, now):
                return locked
            return self._count_unknown(connection, check.username, outcome, now, locked_now)
        if outcome.result is not Result.ACCEPTED and outcome.reason != "wrong_code":
            return outcome
        credential = next(c for c in check.credentials if c.public_id == outcome.credential_id)
        if locked := _locked_earlier(locked_now, credential.id, credential.public_id, now):
            return locked
        if outcome.result is Result.ACCEPTED and outcome.reason == "match":
            assert outcome.step is not None  # noqa: S101 - set with every match
            step = outcome.step
            drift = 0
            if credential.kind == CredentialKind.TOTP:
                drift = step - totp_counter(now, credential.period)
                drift = max(-self.policy.max_drift, min(self.policy.max_drift, drift))
            changed = _ACCEPT.rowcount(
                connection, {"cid": credential.id, "step": step, "new_drift": drift, "now": now}
            )
            if changed == 1:
                return Outcome(Result.ACCEPTED, "accepted", credential.public_id)
        if outcome.result is Result.ACCEPTED:
            outcome = Outcome(Result.REJECTED, "replay", credential.public_id)
        return self._count_failure(connection, credential, outcome, now, locked_now)

    def _count_failure(
        self,
        connection: Connection,
        credential: CredentialState,
        outcome: Outcome,
        now: float,
        locked_now: dict[int | str, float],
    ) -> Outcome:
        counted = connection.execute(_COUNT_FAILURE, {"cid": credential.id, "now": now}).first()
        if counted is None:  # locked since it was read
            until = connection.execute(_LOCKED_UNTIL, {"cid": credential.id}).scalar_one()
            return _locked(credential.public_id, until or now, now)
        failures, lockouts = counted
        seconds = self._lock_if_due(
            connection, _LOCK, {"cid": credential.id}, failures, lockouts, now
        )
        if seconds is None:
            return outcome
        locked_now[credential.id] = now + seconds
        return Outcome(
            Result.LOCKED,
            f"{outcome.reason}_locked",
            credential.public_id,
            retry_after=math.ceil(seconds),
        )

    def _count_unknown(
        self,
        connection: Connection,
        username: str,
        outcome: Outcome,
        now: float,
        locked_now: dict[int | str, float],
    ) -> Outcome:
        """A wrong code for a username without a credential counts and locks out like one
        for a customer: otherwise only customers would ever answer `locked`."""
        statement = _COUNT_UNKNOWN[connection.dialect.name]
        counted = connection.execute(statement, {"username": username, "now": now}).first()
        if counted is None:  # locked out since it was read
            until = connection.execute(_UNKNOWN_LOCKED_UNTIL, {"username": username}).scalar_one()
            return _locked(None, until or now, now)
        failures, lockouts = counted
        if now - self._pruned_at > 3600:  # forget names nobody has tried for a long time
            connection.execute(
                _PRUNE_UNKNOWN, {"before": now - self.policy.unknown_user_retention_seconds}
            )
            self._pruned_at = now
        seconds = self._lock_if_due(
            connection, _LOCK_UNKNOWN, {"name": username}, failures, lockouts, now
        )
        if seconds is None:
            return outcome
        locked_now[f"user:{username}"] = now + seconds
        return Outcome(Result.LOCKED, "unknown_user_locked", retry_after=math.ceil(seconds))

    def _lock_if_due(
        self,
        connection: Connection,
        lock: Any,
        row: dict[str, Any],
        failures: int,
        lockouts: int,
        now: float,
    ) -> float | None:
        """After a counted failure: lock the row when the threshold is reached, for the base
        time doubled by each earlier lock-out up to the cap; returns the seconds, or None."""
        if failures < self.policy.lockout_threshold:
            return None
        seconds = float(
            min(self.policy.lockout_base_seconds * 2**lockouts, self.policy.lockout_max_seconds)
        )
        connection.execute(lock, {**row, "new_lockouts": lockouts + 1, "until": now + seconds})
        return seconds

    def _log_decision(self, request: VerifyRequest, outcome: Outcome) -> None:
        if not _decisions.isEnabledFor(logging.INFO):
            # once per request: structlog would bind a logger and start its chain for an
            # event the level drops (~15 µs a request under load)
            return
        log.info(
            "verify.decision",
            client=request.client,
            username=request.username,
            purpose=request.purpose,
            result=outcome.result.value,
            reason=outcome.reason,
        )


_UNUSABLE = WrappedSeed(b"", 0, 0)


def _locked_earlier(
    locked_now: dict[int | str, float], key: int | str, public_id: str | None, now: float
) -> Outcome | None:
    """`locked` when an earlier request of the batch locked `key` (a credential id, or
    "user:<name>" for an unknown username); None otherwise."""
    until = locked_now.get(key)
    if until is None:
        return None
    return _locked(public_id, until, now)


def _locked(public_id: str | None, until: float, now: float) -> Outcome:
    return Outcome(Result.LOCKED, "locked", public_id, retry_after=max(1, math.ceil(until - now)))


def _audit_record(check: _Check) -> AuditRecord:
    request, outcome = check.request, check.outcome
    assert outcome is not None  # noqa: S101
    details: dict[str, Any] = {}
    if request.transaction:
        details["transaction"] = dict(request.transaction)
    if outcome.credential_id:
        details["credential"] = outcome.credential_id
    if outcome.retry_after:
        details["retry_after"] = outcome.retry_after
    return AuditRecord(
        actor=f"client:{request.client}",
        action="verify",
        subject=request.username,
        purpose=request.purpose,
        result=outcome.result.value,
        reason=outcome.reason,
        source=request.source,
        details=details,
    )
