"""The verification rules: pure functions and small value types, no I/O and no clock
(every function is given `now`). The service (`service.py`) reads, asks the HSM, applies
these and writes (`store.py`).
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hsm import HsmError, OcraSuite, WrappedSeed, totp_counter
from server.db.models import Credential, CredentialKind
from server.domain.verification.transfers import Transfer


class Result(enum.StrEnum):
    """The answer the relying party gets."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


YEAR = 365 * 86400.0
WHOLE = 1 - 1e-9
"""A whole guess, allowing for floating-point sums of the refill (a pool refilled for exactly
the wait it was told has its guess back)."""
GUESS_POOLS = ("anonymous", "authenticated")
"""The pools every credential's wrong guesses are counted in when they come from a context
the credential does not know: with or without the relying party having checked the
password first. A context where the customer got in before has a pool of its own."""


@dataclass(frozen=True)
class VerifyPolicy:
    """Windows and limits (docs/design.md §4, "Guessing budgets").

    `guess_success_per_year` is the goal the budgets are cut to: the chance that an
    attacker who sends every guess the rule evaluates, in both pools, all year, hits a
    valid code. `guess_burst` is how many wrong codes a pool takes in a row; the rest of a
    pool's yearly share trickles back evenly (`guess_budget`)."""

    totp_window: int = 1
    hotp_look_ahead: int = 10
    max_drift: int = 10
    guess_burst: int = 5
    guess_success_per_year: float = 0.01
    familiar_context_days: int = 90
    source_failure_limit: int = 50
    source_window_seconds: int = 60
    unknown_user_retention_seconds: float = 90 * 86400


@dataclass(frozen=True)
class VerifyRequest:
    """One code to check, with what it approves.

    `context` is the relying party's name for where the guess comes from (a device cookie
    or a session: a value an attacker cannot read), `authenticated` that it checked the
    customer's password for this attempt: they choose the guessing pool (`pool_of`)."""

    username: str
    code: str
    purpose: str
    client: str
    source: str = ""
    transaction: Mapping[str, Any] = field(default_factory=dict)
    context: str = ""
    authenticated: bool = False
    response: str = ""
    """A transfer's signature (the OCRA response the token showed), instead of a `code`."""
    transfer: Transfer | None = None
    """With `response`: the transfer it signs (`transfers.transfer_of`); or"""
    challenge: str = ""
    """with `response` for any other purpose: the 8 digits the bank showed the customer."""
    signing_required: bool = False
    """A plain code for a transfer the relying party's policy wants signed: rejected
    without looking at it (`transfers.needs_signature`)."""

    def __post_init__(self) -> None:
        if self.response and (self.transfer is None) == (not self.challenge):
            raise ValueError("a response answers a transfer or a challenge: give one of them")

    @property
    def signed(self) -> bool:
        """A transfer signature rather than a code."""
        return bool(self.response)

    @property
    def question(self) -> str:
        """The OCRA question the response answers: a transfer's 20 digits, or the bank's
        challenge of 8 (questions of different lengths never give one data input: QA pads
        with zero bytes, which no digit is); empty for a code."""
        return self.challenge if self.transfer is None else self.transfer.question


@dataclass(frozen=True)
class GuessBudget:
    """A token bucket of wrong guesses: `capacity` in a row, then `per_second` back."""

    capacity: float
    per_second: float

    def level(self, tokens: float | None, updated_at: float | None, now: float) -> float:
        """The guesses left at `now` (a pool never written is full)."""
        if tokens is None or updated_at is None:
            return self.capacity
        return min(self.capacity, tokens + max(0.0, now - updated_at) * self.per_second)

    def wait(self, level: float) -> float:
        """Seconds until a pool at `level` has one whole guess again (0 if it has)."""
        if level >= WHOLE:
            return 0.0
        if self.per_second <= 0:
            return YEAR
        return (1 - level) / self.per_second


def codes_per_guess(kind: str, policy: VerifyPolicy) -> int:
    """How many valid codes one guess is compared with: the window."""
    if kind == CredentialKind.HOTP:
        return policy.hotp_look_ahead
    return 2 * policy.totp_window + 1  # TOTP, and OCRA's time steps


def guess_budget(kind: str, digits: int, policy: VerifyPolicy) -> GuessBudget:
    """Each pool's budget for a credential, cut so that all `GUESS_POOLS` together evaluate
    at most `guess_success_per_year` / p guesses a year (p: one guess's chance)."""
    chance = codes_per_guess(kind, policy) / 10**digits
    per_pool = policy.guess_success_per_year / chance / len(GUESS_POOLS)
    trickle = max(0.0, per_pool - policy.guess_burst)
    return GuessBudget(float(policy.guess_burst), trickle / YEAR)


def success_per_year(kind: str, digits: int, policy: VerifyPolicy, guesses: float) -> float:
    """The chance that `guesses` evaluated in a year include a valid code (union bound)."""
    chance: float = guesses * codes_per_guess(kind, policy) / 10**digits
    return min(1.0, chance)


def context_digest(context: str) -> str:
    """How a relying party's context is kept: a digest, never the value."""
    return hashlib.sha256(context.encode("utf-8")).hexdigest()[:32]


def credential_key(credential_id: int, pool: str) -> str:
    """A credential's bucket for `pool` (a `GUESS_POOLS` name, or a context's)."""
    return f"c{credential_id}:{pool}"


def context_key(credential_id: int, context: str) -> str:
    """The pool of a context where this credential got in before."""
    return credential_key(credential_id, f"context:{context_digest(context)}")


def pool_key(credential_id: int | None, username: str, request: VerifyRequest) -> str:
    """The pool a guess from an unfamiliar context is counted in (`credential_id` None: a
    username without a credential, counted like one)."""
    pool = GUESS_POOLS[1] if request.authenticated else GUESS_POOLS[0]
    if credential_id is None:
        return f"u:{username}:{pool}"
    return credential_key(credential_id, pool)


def familiar(last_success: float | None, now: float, policy: VerifyPolicy) -> bool:
    """A context is familiar while the customer got in from it in the last days."""
    return last_success is not None and now - last_success <= policy.familiar_context_days * 86400


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
    ocra_suite: str | None = None
    ocra_wrapped_seed: bytes | None = None
    ocra_seed_length: int | None = None

    @property
    def signs(self) -> bool:
        """It has an OCRA seed: it can sign transfers."""
        return self.ocra_suite is not None and self.ocra_wrapped_seed is not None

    def answers(self, request: VerifyRequest) -> bool:
        """It can answer this request: a signature needs an OCRA seed, a plain code a TOTP
        or HOTP seed (an imported OCRA credential has none)."""
        return self.signs if request.signed else self.kind != CredentialKind.OCRA


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
    return _around(totp_counter(now, credential.period) + credential.drift, policy.totp_window)


def _around(centre: int, window: int) -> list[int]:
    """`centre`, then one step either side of it, and so on as far as `window`."""
    steps = [centre]
    for distance in range(1, window + 1):
        steps += [centre - distance, centre + distance]
    return steps


def signing_window(
    credential: CredentialState, suite: OcraSuite, now: float, policy: VerifyPolicy
) -> list[int]:
    """The OCRA time steps a transfer's response may have been computed at, likeliest
    first: the token's step as its learnt drift says (a TOTP credential's codes and its
    signatures come from one clock; an imported OCRA token's drift is in its own steps),
    then the steps either side, as far as the TOTP window goes."""
    assert suite.time_step is not None  # noqa: S101 - only time-based suites sign transfers
    drift_seconds = credential.drift * credential.period  # HOTP credentials do not sign
    return _around(suite.time_step_at(now + drift_seconds), policy.totp_window)


def wrapped(credential: Credential | CredentialState) -> WrappedSeed:
    """The credential's seed as the HSM layer takes it."""
    return WrappedSeed(credential.wrapped_seed, credential.kek_version, credential.seed_length)


def wrapped_ocra(credential: CredentialState) -> WrappedSeed:
    """The credential's OCRA seed as the HSM layer takes it (under the same KEK version)."""
    assert credential.ocra_wrapped_seed is not None  # noqa: S101 - callers check `signs`
    return WrappedSeed(
        credential.ocra_wrapped_seed, credential.kek_version, credential.ocra_seed_length or 0
    )


def clamp_drift(step: int, now: float, period: int, max_drift: int) -> int:
    """The drift a TOTP credential learns from a code found at `step`: how far that is from
    the server's step, at most `max_drift` either way (further needs an officer's resync)."""
    return max(-max_drift, min(max_drift, step - totp_counter(now, period)))


def locked(public_id: str | None, until: float, now: float) -> Outcome:
    """`locked` until `until` (at least a second to wait)."""
    return Outcome(Result.LOCKED, "locked", public_id, retry_after=max(1, math.ceil(until - now)))


Job = tuple["CredentialState | None", list[int]]
"""A credential (None: the decoy seed of an unknown user) and the counters looked at."""


def decide(
    credentials: Sequence[CredentialState],
    jobs: Sequence[Job],
    found: Sequence[int | HsmError | None],
    unknown_locked_until: float | None,
    now: float,
    signed: bool = False,
) -> Outcome:
    """The decision on one request from what was read and what the HSM found (`found[i]`
    answers `jobs[i]`: the counter the code matched, None, or the HSM's error)."""
    if any(isinstance(answer, HsmError) for answer in found):
        return Outcome(Result.UNAVAILABLE, "hsm_unavailable", retry_after=1)
    if not credentials:
        if unknown_locked_until and unknown_locked_until > now:
            return locked(None, unknown_locked_until, now)
        return Outcome(Result.REJECTED, "unknown_user")
    if not jobs:
        return locked(
            credentials[0].public_id, min(c.locked_until or now for c in credentials), now
        )
    for (credential, _), step in zip(jobs, found, strict=True):
        assert credential is not None and not isinstance(step, HsmError)  # noqa: S101
        if step is not None:
            # a signature's replay is told when it is stored (per step and question)
            reason = "replay" if not signed and step <= credential.last_step else "match"
            return Outcome(Result.ACCEPTED, reason, credential.public_id, step=step)
    first = jobs[0][0]
    assert first is not None  # noqa: S101
    return Outcome(Result.REJECTED, "wrong_code", first.public_id)
