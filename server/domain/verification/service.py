"""Deciding whether a code is good: the order of work (read, HSM, rules, write, audit,
metrics) for a batch; the rules are `rules.py`, the SQL `store.py`.

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

import functools
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hsm import (
    Algorithm,
    HsmError,
    OcraEngine,
    OcraInput,
    OcraJob,
    OcraSuite,
    OtpEngine,
    OtpJob,
    WrappedSeed,
)
from server.clock import Clock
from server.db.engine import Database, error_facts, is_transient
from server.db.models import CredentialKind
from server.domain.audit.rules import AuditRecord
from server.domain.audit.service import AuditLog
from server.domain.customers.rules import login_name
from server.domain.ratelimit import FailureLimit
from server.domain.verification import store
from server.domain.verification.rules import (
    GUESS_POOLS,
    WHOLE,
    CredentialState,
    GuessBudget,
    Job,
    Outcome,
    Result,
    VerifyPolicy,
    VerifyRequest,
    clamp_drift,
    context_key,
    credential_key,
    decide,
    familiar,
    guess_budget,
    locked,
    pool_key,
    signing_window,
    window_counters,
    wrapped,
    wrapped_ocra,
)
from server.domain.verification.transfers import SUITE
from server.metrics import Metrics

log = structlog.get_logger("server.verify")
COMMIT_ATTEMPTS = 5
COMMIT_BACKOFF_SECONDS = 0.005
_JITTER = random.Random()  # noqa: S311 - spreading retries in time, not a secret
_decisions = logging.getLogger("server.verify")
J = TypeVar("J")
A = TypeVar("A")


class CodeEngine(OtpEngine, OcraEngine, Protocol):
    """What verification asks of the HSM: codes, and transfer signatures."""


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
    """For a username without a credential: when its stand-in budget has a guess again."""
    pools: dict[int | None, str] = field(default_factory=dict)
    """The budget each credential's guess is counted in (None: the unknown username's)."""
    outcome: Outcome | None = None
    jobs: list[Job] = field(default_factory=list)
    """(credential, counters) whose values the HSM computes; None is the decoy seed."""
    found: list[int | HsmError | None] = field(default_factory=list)
    """The HSM's answer for each job: the counter (or time step) matched, or None."""
    unable: bool = False
    """The customer has credentials, but none that can answer this request."""


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
        hsm: CodeEngine,
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
        self._decoy_seeds: dict[Algorithm, WrappedSeed] = {}
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
        for check in checks:
            if check.request.signing_required:  # decided without a look at the code
                check.outcome = Outcome(Result.REJECTED, SIGNING_REQUIRED)
        self._compute([c for c in checks if c.outcome is None], now)
        for check in checks:
            if check.outcome is not None:
                continue
            outcome = decide(
                check.credentials,
                check.jobs,
                check.found,
                check.unknown_locked_until,
                now,
                signed=check.request.signed,
            )
            if check.unable and outcome.reason == "wrong_code":
                outcome = replace(outcome, reason=_unable_reason(check.request))
            check.outcome = outcome
        return Prepared(checks, now)

    def commit(self, prepared: Prepared) -> list[Outcome]:
        """The second stage: apply the decisions of `prepare` in one transaction, against
        the state as it is now (see the module's docstring), with the audit events.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was written.
        """
        checks, now = prepared.checks, prepared.now
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                outcomes = self._commit_once(checks, now)
                break
            except DBAPIError as exc:
                # a deadlock or serialization failure rolled everything back: the same
                # decisions, applied again to the state as it is then, answer every request
                if attempt == COMMIT_ATTEMPTS or not is_transient(exc):
                    raise
                log.info("verify.commit_retried", attempt=attempt, **error_facts(exc))
                time.sleep(_JITTER.uniform(0, COMMIT_BACKOFF_SECONDS * 2**attempt))
        self._prune_if_due(now)
        decided: Counter[tuple[str, str]] = Counter()
        for check, outcome in zip(checks, outcomes, strict=True):
            self._log_decision(check.request, outcome)
            decided[(outcome.result.value, check.request.purpose)] += 1
        for (result, purpose), count in decided.items():  # one labels() lookup per kind
            self._metrics.verifications.labels(result, purpose).inc(count)
        return outcomes

    def _commit_once(self, checks: list[_Check], now: float) -> list[Outcome]:
        """One transaction: each prepared decision applied, then the audit events. The
        checks are not changed, so a rolled-back attempt can be run again."""
        with self._db.engine.begin() as connection:
            # every row the batch may write, locked before it writes any, in the order every
            # writer takes (docs/design.md §4, "Lock order"): no deadlock between batches
            held = store.lock_in_order(connection, *self._rows_written(checks), now)
            # read in the write transaction, after the batch before this one committed
            # (under SQLite's write lock; PostgreSQL reads what is committed by then)
            failures = self._limit.counts(
                connection, (c.source_key for c in checks if c.source_key), now
            )
            stored = dict(failures)
            locked_now: dict[str, float] = {}
            outcomes = [
                self._apply_in_order(connection, check, now, locked_now, failures, held)
                for check in checks
            ]
            # the batch's new failures, stored after the buckets (the lock order)
            added = {s: n - stored.get(s, 0) for s, n in failures.items()}
            self._limit.count_many(connection, {s: n for s, n in added.items() if n}, now)
            self._audit.append_many(
                connection,
                [_audit_record(c.request, o) for c, o in zip(checks, outcomes, strict=True)],
            )
        return outcomes

    def _prune_if_due(self, now: float) -> None:
        """Hourly, in a transaction of its own (outside the batches' lock order), forget
        buckets and signatures nobody needs any more; a failure waits for the next hour."""
        if now - self._pruned_at <= 3600:
            return
        self._pruned_at = now
        try:
            with self._db.engine.begin() as connection:
                store.prune_budgets(connection, now - self.policy.unknown_user_retention_seconds)
                store.prune_signatures(connection, now - SIGNATURE_RETENTION_SECONDS)
        except SQLAlchemyError as exc:
            log.warning("verify.prune_failed", **error_facts(exc))

    def budget_levels(
        self, credential_id: int, kind: str, digits: int
    ) -> dict[str, tuple[float, float]]:
        """For the officer: each unfamiliar-context pool of a credential, as (guesses left,
        seconds until one whole guess is there again)."""
        budget = guess_budget(kind, digits, self.policy)
        keys = {pool: credential_key(credential_id, pool) for pool in GUESS_POOLS}
        now = self._clock()
        with self._db.reading() as connection:
            rows = store.budgets(connection, list(keys.values()))
        levels = {pool: _level(budget, rows.get(key), now) for pool, key in keys.items()}
        return {pool: (level, budget.wait(level)) for pool, level in levels.items()}

    # -- steps -----------------------------------------------------------------------------

    def _read(self, requests: Sequence[VerifyRequest], now: float) -> list[_Check]:
        """The credentials of every user and their guessing budgets, read without taking
        the write lock. A credential whose budget for this request's pool has no whole guess
        left is treated as locked until it has one (its code is not even looked at)."""
        checks = [
            _Check(
                r,
                f"{r.client}|{r.source}" if r.source else None,
                login_name(r.username),
                [],
            )
            for r in requests
        ]
        with self._db.reading() as connection:
            found = store.read(connection, [c.username for c in checks])
            keys = []
            for check in checks:
                request, credentials = check.request, found[check.username]
                keys += [pool_key(c.id, check.username, request) for c in credentials]
                if request.context:
                    keys += [context_key(c.id, request.context) for c in credentials]
                if not credentials:
                    keys.append(pool_key(None, check.username, request))
            rows = store.budgets(connection, keys)
        for check in checks:
            known = found[check.username]
            usable = [c for c in known if c.answers(check.request)]
            # a customer none of whose credentials can answer this is still checked (on a
            # decoy seed) and budgeted as its credentials: the answers and the HSM's work
            # are those of a customer whose can (`_compute`)
            check.unable = bool(known) and not usable
            check.credentials = [self._budgeted(check, c, rows, now) for c in usable or known]
            if not check.credentials:
                key = check.pools[None] = pool_key(None, check.username, check.request)
                check.unknown_locked_until = _exhausted_until(
                    self._unknown_budget, rows.get(key), now
                )
        return checks

    def _budgeted(
        self,
        check: _Check,
        credential: CredentialState,
        rows: Mapping[str, store.BudgetRow],
        now: float,
    ) -> CredentialState:
        """`credential` with the pool this request counts in, locked while it is empty."""
        request = check.request
        key = pool_key(credential.id, check.username, request)
        if request.context:
            context = context_key(credential.id, request.context)
            row = rows.get(context)
            if row is not None and familiar(row.last_success, now, self.policy):
                key = context
        check.pools[credential.id] = key
        until = _exhausted_until(self._budget(credential), rows.get(key), now)
        if until is None or (credential.locked_until or 0) >= until:
            return credential
        return replace(credential, locked_until=until)

    def _budget(self, credential: CredentialState) -> GuessBudget:
        return guess_budget(credential.kind, credential.digits, self.policy)

    @property
    def _unknown_budget(self) -> GuessBudget:
        """A username without a credential is budgeted like a 6-digit TOTP one."""
        return guess_budget(CredentialKind.TOTP, 6, self.policy)

    def _compute(self, checks: list[_Check], now: float) -> None:
        """One hop to the HSM to look for every request's code in the windows of its usable
        credentials (and the same work for unknown users and for customers none of whose
        credentials can answer the request, so they answer like everybody else)."""
        decoy_window = list(range(2 * self.policy.totp_window + 1))
        jobs: list[OtpJob] = []
        signatures: list[OcraJob] = []

        def decoy(check: _Check, credential: CredentialState | None) -> None:
            """The work of one check, on a seed of nobody's."""
            check.jobs.append((credential, decoy_window))
            request = check.request
            if request.signed:
                suite = _suite(SUITE)
                seed = self._decoy(suite.algorithm)
                signatures.append(_signature_job(seed, suite, decoy_window, request))
            else:
                seed = self._decoy(Algorithm.SHA1)
                jobs.append(OtpJob(seed, Algorithm.SHA1, 6, decoy_window, request.code))

        for check in checks:
            request = check.request
            locked = check.unknown_locked_until and check.unknown_locked_until > now
            if not check.credentials and not locked:
                decoy(check, None)
            for c in check.credentials:
                if c.locked_until and c.locked_until > now:
                    continue
                if check.unable:
                    decoy(check, c)
                elif request.signed:
                    suite = _suite(c.ocra_suite or "")
                    steps = signing_window(c, suite, now, self.policy)
                    check.jobs.append((c, steps))
                    signatures.append(_signature_job(wrapped_ocra(c), suite, steps, request))
                else:
                    counters = window_counters(c, now, self.policy)
                    check.jobs.append((c, counters))
                    jobs.append(
                        OtpJob(
                            wrapped(c),
                            Algorithm.parse(c.algorithm),
                            c.digits,
                            counters,
                            request.code,
                        )
                    )
        codes = iter(self._ask("find_code", self._hsm.find_codes, jobs))
        steps_found = iter(
            [
                _step_of(answer)
                for answer in self._ask(
                    "find_ocra_response", self._hsm.find_ocra_responses, signatures
                )
            ]
        )
        for check in checks:
            position = steps_found if check.request.signed else codes
            check.found = [next(position) for _ in check.jobs]
            if check.unable:  # a decoy seed's chance match is no match
                check.found = [f if isinstance(f, HsmError) else None for f in check.found]

    def _ask(
        self, operation: str, ask: Callable[[Sequence[J]], list[A]], jobs: Sequence[J]
    ) -> list[A | HsmError]:
        """The HSM's answer to each job, in one hop (none without jobs); when the HSM
        cannot be used, its error for each."""
        if not jobs:
            return []
        answers: list[A | HsmError]
        try:
            answers = list(ask(jobs))
        except HsmError as exc:
            log.warning("verify.hsm_unavailable", reason=str(exc))
            answers = [exc] * len(jobs)
        errors = sum(isinstance(a, HsmError) for a in answers)
        self._metrics.hsm_operations.labels(operation, "error").inc(errors)
        self._metrics.hsm_operations.labels(operation, "ok").inc(len(answers) - errors)
        return answers

    def _decoy(self, algorithm: Algorithm) -> WrappedSeed:
        """A seed of nobody's for `algorithm`, made once: unknown users cost the HSM what a
        real check costs."""
        seed = self._decoy_seeds.get(algorithm)
        if seed is None:
            try:
                seed = self._decoy_seeds[algorithm] = self._hsm.generate_seed(algorithm)
            except HsmError:
                return _UNUSABLE  # the batch's HSM call fails anyway: the HSM is away
        return seed

    def _rows_written(self, checks: list[_Check]) -> tuple[list[int], dict[str, float]]:
        """What `_apply` may write for these decided checks: the credentials an acceptance
        moves on, and the buckets (key -> capacity) a guess is spent from, an acceptance
        needs a guess in, or a success remembers its context in."""
        credentials: list[int] = []
        buckets: dict[str, float] = {}
        for check in checks:
            outcome = check.outcome
            assert outcome is not None  # noqa: S101 - every check is decided
            if outcome.reason == "unknown_user":
                buckets[check.pools[None]] = self._unknown_budget.capacity
            elif outcome.result is Result.ACCEPTED or outcome.reason in WRONG_GUESSES:
                credential = _decided_credential(check)
                capacity = self._budget(credential).capacity
                buckets[check.pools[credential.id]] = capacity
                if outcome.result is Result.ACCEPTED:
                    credentials.append(credential.id)
                    if check.request.context:
                        buckets[context_key(credential.id, check.request.context)] = capacity
        return credentials, buckets

    def _apply_in_order(
        self,
        connection: Connection,
        check: _Check,
        now: float,
        locked_now: dict[str, float],
        failures: dict[str, int],
        held: Mapping[str, store.BudgetRow],
    ) -> Outcome:
        """Apply one decision after the source limit: `failures` holds each source's count,
        the failures of this batch so far included (this adds the decision's); `held`, the
        buckets the batch locked."""
        source = check.source_key
        if source and failures.get(source, 0) >= self._limit.limit:
            return Outcome(
                Result.RATE_LIMITED, "source_rate_limited", retry_after=self._limit.retry_after(now)
            )
        outcome = self._apply(connection, check, now, locked_now, held)
        failed = outcome.result in (Result.REJECTED, Result.LOCKED)
        if source and failed and outcome.reason not in ("locked", SIGNING_REQUIRED):
            failures[source] = failures.get(source, 0) + 1  # stored after the batch
        return outcome

    def _apply(
        self,
        connection: Connection,
        check: _Check,
        now: float,
        locked_now: dict[str, float],
        held: Mapping[str, store.BudgetRow],
    ) -> Outcome:
        """Write the decision; an acceptance only if no one else used this step first.
        `locked_now` holds the pools emptied earlier in this batch (pool key -> until)."""
        outcome = check.outcome
        assert outcome is not None  # noqa: S101 - every check is decided
        if outcome.reason == "unknown_user":
            if earlier := _locked_earlier(locked_now, check.pools[None], None, now):
                return earlier
            return self._count_unknown(connection, check, outcome, now, locked_now)
        if outcome.result is not Result.ACCEPTED and outcome.reason not in WRONG_GUESSES:
            return outcome
        credential = _decided_credential(check)
        pool = check.pools[credential.id]
        if earlier := _locked_earlier(locked_now, pool, credential.public_id, now):
            return earlier
        budget = self._budget(credential)
        if outcome.result is Result.ACCEPTED:
            # prepared while the pool had a guess: it must still have one (a batch of
            # guesses committed meanwhile may have spent it), or none of them could count
            until = _exhausted_until(budget, held.get(pool), now)
            if until is not None:
                return locked(credential.public_id, until, now)
        if outcome.result is Result.ACCEPTED and outcome.reason == "match":
            assert outcome.step is not None  # noqa: S101 - set with every match
            step = outcome.step
            drift = 0
            if credential.kind == CredentialKind.TOTP:
                drift = clamp_drift(step, now, credential.period, self.policy.max_drift)
            request = check.request
            if (
                self._accept_signature(connection, credential, step, request.question, now)
                if request.signed
                else store.accept(connection, credential.id, step, drift, now)
            ):
                if check.request.context:  # from now on this context has its own budget
                    key = context_key(credential.id, check.request.context)
                    store.remember_context(connection, key, budget, now)
                return Outcome(Result.ACCEPTED, "accepted", credential.public_id)
        if outcome.result is Result.ACCEPTED:
            outcome = Outcome(Result.REJECTED, "replay", credential.public_id)
        return self._spend(
            connection,
            pool,
            budget,
            credential.public_id,
            outcome,
            now,
            locked_now,
        )

    def _accept_signature(
        self,
        connection: Connection,
        credential: CredentialState,
        step: int,
        question: str,
        now: float,
    ) -> bool:
        """Remember a signature once; an imported OCRA token, which has no codes to teach
        its clock, learns its drift from it."""
        if not store.accept_signature(connection, credential.id, step, question, now):
            return False
        if credential.kind == CredentialKind.OCRA:
            drift = clamp_drift(step, now, credential.period, self.policy.max_drift)
            store.learn_drift(connection, credential.id, drift, now)
        return True

    def _count_unknown(
        self,
        connection: Connection,
        check: _Check,
        outcome: Outcome,
        now: float,
        locked_now: dict[str, float],
    ) -> Outcome:
        """A wrong code for a username without a credential spends a budget like one for a
        customer's: otherwise only customers would ever answer `locked`."""
        return self._spend(
            connection, check.pools[None], self._unknown_budget, None, outcome, now, locked_now
        )

    def _spend(
        self,
        connection: Connection,
        key: str,
        budget: GuessBudget,
        public_id: str | None,
        outcome: Outcome,
        now: float,
        locked_now: dict[str, float],
    ) -> Outcome:
        """Count a wrong guess in its budget; the last whole guess answers `locked`."""
        left = store.spend(connection, key, budget, now)
        if left is None:  # emptied by another process since it was read
            until = _exhausted_until(budget, store.budgets(connection, [key]).get(key), now)
            return locked(public_id, until or now, now)
        if left >= WHOLE:
            return outcome
        seconds = budget.wait(left)
        locked_now[key] = now + seconds
        reason = "unknown_user_locked" if public_id is None else f"{outcome.reason}_locked"
        return Outcome(Result.LOCKED, reason, public_id, retry_after=max(1, math.ceil(seconds)))

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
SIGNING_REQUIRED = "signing_required"
"""The reason of a plain code for a transfer the relying party wants signed."""
WRONG_GUESSES = frozenset({"wrong_code", "no_signing_seed", "no_code_seed"})
"""Reasons of a guess that spends the credential's budget: a wrong code or response, and
one sent to a customer whose credentials cannot answer it (no signing seed; an imported
OCRA-only token asked for a code), which must cost and answer the same."""
SIGNATURE_RETENTION_SECONDS = 86400.0
"""How long an accepted signature is remembered: far longer than it could be accepted
again (a signing suite's step is at most 5 minutes, `credentials.rules.MAX_SIGNING_STEP`;
the window is one step either side of at most `max_drift` steps)."""


def _unable_reason(request: VerifyRequest) -> str:
    """A customer whose credentials cannot answer this request: none can sign, or (an
    imported OCRA token alone) none gives plain codes."""
    return "no_signing_seed" if request.signed else "no_code_seed"


@functools.cache
def _suite(text: str) -> OcraSuite:
    """A stored suite, parsed once (the same few suites on every request)."""
    return OcraSuite.parse(text)


def _signature_job(
    seed: WrappedSeed, suite: OcraSuite, steps: list[int], request: VerifyRequest
) -> OcraJob:
    """The HSM's work for a transfer signature: its question at each time step."""
    inputs = [OcraInput(request.question, time_step=step) for step in steps]
    return OcraJob(seed, suite, inputs, request.response)


def _step_of(answer: OcraInput | HsmError | None) -> int | HsmError | None:
    """The time step a signature matched at (None: none), or the HSM's error."""
    if answer is None or isinstance(answer, HsmError):
        return answer
    return answer.time_step


def _decided_credential(check: _Check) -> CredentialState:
    """The credential a decided check's outcome is about."""
    outcome = check.outcome
    assert outcome is not None  # noqa: S101 - every check is decided
    return next(c for c in check.credentials if c.public_id == outcome.credential_id)


def _level(budget: GuessBudget, row: store.BudgetRow | None, now: float) -> float:
    """The guesses a stored bucket holds at `now` (no row: a full bucket)."""
    return budget.level(row.tokens, row.updated_at, now) if row else budget.capacity


def _exhausted_until(budget: GuessBudget, row: store.BudgetRow | None, now: float) -> float | None:
    """When a bucket has a whole guess again; None if it has one now."""
    level = _level(budget, row, now)
    return None if level >= WHOLE else now + budget.wait(level)


def _locked_earlier(
    locked_now: dict[str, float], key: str, public_id: str | None, now: float
) -> Outcome | None:
    """`locked` when an earlier request of the batch emptied the budget `key`; None
    otherwise."""
    until = locked_now.get(key)
    if until is None:
        return None
    return locked(public_id, until, now)


def _audit_record(request: VerifyRequest, outcome: Outcome) -> AuditRecord:
    details: dict[str, Any] = {}
    if request.transaction:
        details["transaction"] = dict(request.transaction)
    if request.transfer is not None:  # what the customer typed on the token
        details["signed"] = {**request.transfer.audited(), "question": request.question}
    elif request.signed:
        details["signed"] = {"challenge": request.challenge}
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
