"""The verification rules: pure functions and small value types, no I/O and no clock
(every function is given `now`). The service (`service.py`) reads, asks the HSM, applies
these and writes (`store.py`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hsm import HsmError, WrappedSeed, totp_counter
from server.db.models import Credential, CredentialKind


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


def clamp_drift(step: int, now: float, period: int, max_drift: int) -> int:
    """The drift a TOTP credential learns from a code found at `step`: how far that is from
    the server's step, at most `max_drift` either way (further needs an officer's resync)."""
    return max(-max_drift, min(max_drift, step - totp_counter(now, period)))


def lockout_seconds(failures: int, lockouts: int, policy: VerifyPolicy) -> float | None:
    """After a counted failure: None below the threshold; else how long to lock, the base
    time doubled by each earlier lock-out, up to the cap."""
    if failures < policy.lockout_threshold:
        return None
    return float(min(policy.lockout_base_seconds * 2**lockouts, policy.lockout_max_seconds))


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
            reason = "replay" if step <= credential.last_step else "match"
            return Outcome(Result.ACCEPTED, reason, credential.public_id, step=step)
    first = jobs[0][0]
    assert first is not None  # noqa: S101
    return Outcome(Result.REJECTED, "wrong_code", first.public_id)
