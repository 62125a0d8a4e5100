"""The KEK rotation's rules: pure functions and small value types, no I/O, no clock and no
HSM (what the token holds, what the database counted and `now` are given). What a KEK
inventory says, whether a rotation starts or resumes, what a batch writes and when a run
stops, and whether a KEK may be retired yet. The order of work is `rotation.py`, the SQL
`store.py` (docs/design.md §2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hsm import HsmStatus, WrappedSeed
from server.errors import Conflict, NotFound

DEFAULT_BATCH = 200
MAX_PASSES = 10
SERVER_KEY_REFRESH_SECONDS = 60.0
"""How often a running server rescans the token for keys (`HsmConfig.key_refresh_interval`)."""
DEFAULT_RETIRE_GRACE = 2 * SERVER_KEY_REFRESH_SECONDS


@dataclass(frozen=True)
class KekUsage:
    """One KEK version: whether the token has it, and the credentials wrapped under it.

    Attributes:
        version: the KEK version.
        on_token: the token holds this version (False: credentials point at a missing key).
        current: new seeds are wrapped under this version.
        credentials: number of credentials under this version, by status.
    """

    version: int
    on_token: bool
    current: bool
    credentials: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Credentials under this version, whatever their status."""
        return sum(self.credentials.values())


@dataclass(frozen=True)
class RotationPlan:
    """What `KeyRotation.start` decided.

    Attributes:
        target: the KEK version every credential is re-wrapped under.
        previous: the KEK version that was current before (equal to `target` on resume).
        created: this call created `target`; False when an unfinished rotation resumes.
        pending: credentials under older versions when the rotation (re)started.
    """

    target: int
    previous: int
    created: bool
    pending: int


@dataclass
class RotationReport:
    """How a rotation run went.

    Attributes:
        target: the KEK version credentials were re-wrapped under.
        rewrapped: rows this run re-wrapped and committed.
        skipped: rows changed by someone else between read and write (looked at again).
        unreadable: public ids whose blob does not unwrap under its KEK (left as they are).
        remaining: credentials still under an older KEK when the run ended.
        batches: batches committed.
        seconds: wall time of the re-wrapping.
    """

    target: int
    rewrapped: int = 0
    skipped: int = 0
    unreadable: list[str] = field(default_factory=list)
    remaining: int = 0
    batches: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class WrappedRow:
    """A credential's seeds as a rotation reads it: its row id, public id, blob, and the
    OCRA seed's blob if it has one (under the same KEK version)."""

    id: int
    public_id: str
    seed: WrappedSeed
    ocra: WrappedSeed | None = None

    @property
    def seeds(self) -> list[WrappedSeed]:
        """The blobs a rotation re-wraps: the seed, then the OCRA seed if any."""
        return [self.seed] if self.ocra is None else [self.seed, self.ocra]


def inventory(versions: Sequence[int], counts: Iterable[tuple[int, str, int]]) -> list[KekUsage]:
    """Every KEK version on the token (`versions`) or named by a credential, with its
    credentials by status (`counts`: (version, status, count) rows); the newest on the
    token is current."""
    by_version: dict[int, dict[str, int]] = {}
    for version, status, count in counts:
        by_version.setdefault(int(version), {})[str(status)] = int(count)
    current = max(versions) if versions else None
    return [
        KekUsage(v, v in versions, v == current, by_version.get(v, {}))
        for v in sorted(set(versions) | set(by_version))
    ]


def current_kek(versions: Sequence[int], newest_used: int | None, token_label: str) -> int:
    """The newest KEK on the token (`versions`, ascending), which a rotation re-wraps
    under or goes on from, provided no credential names a newer one (`newest_used`).

    Raises:
        NotFound: the token has no KEK at all.
        Conflict: credentials name a KEK version newer than any on the token: this is not
            the token they were wrapped on.
    """
    if not versions:
        raise NotFound("the token has no KEK: run `otp-admin hsm init-keys` first")
    current = versions[-1]
    if newest_used is not None and newest_used > current:
        raise Conflict(
            f"credentials are wrapped under KEK v{newest_used}, which is not on token "
            f"{token_label!r}: is this the right token?"
        )
    return current


def rewrap_writes(
    rows: Sequence[WrappedRow], rewrapped: Sequence[Sequence[WrappedSeed] | None]
) -> tuple[list[dict[str, Any]], list[WrappedRow]]:
    """What a batch writes: one conditional UPDATE's parameters per row the HSM re-wrapped
    (`rewrapped[i]` is row i's new blobs, in the order of `row.seeds`; None when a blob of
    the row did not unwrap), and the rows left as they are, unreadable. A row's two blobs
    move together or not at all: the UPDATE requires both old ones."""
    bad = [row for row, new in zip(rows, rewrapped, strict=True) if new is None]
    params = []
    for row, new in zip(rows, rewrapped, strict=True):
        if new is None:
            continue
        if len(new) != len(row.seeds) or len({seed.kek_version for seed in new}) != 1:
            raise ValueError(f"credential {row.public_id}: its blobs re-wrapped apart")
        params.append(
            {
                "cid": row.id,
                "old_version": row.seed.kek_version,
                "old_blob": row.seed.blob,
                "old_ocra_blob": None if row.ocra is None else row.ocra.blob,
                "new_blob": new[0].blob,
                "new_ocra_blob": None if row.ocra is None else new[1].blob,
                "new_version": new[0].kek_version,
            }
        )
    return params, bad


def batch_details(
    rows: Sequence[WrappedRow], bad: Sequence[WrappedRow], target: int, written: int, changed: int
) -> dict[str, Any]:
    """The `key.rewrap` audit event's details for a batch: `written` rows sent to the
    conditional UPDATE, of which `changed` were still as read (the rest were skipped)."""
    details: dict[str, Any] = {
        "to": target,
        "rewrapped": changed,
        "skipped": written - changed,
        "first_id": rows[0].id,
        "last_id": rows[-1].id,
    }
    if bad:
        details["unreadable"] = [row.public_id for row in bad]
    return details


def run_finished(remaining: int, unreadable: int, rewrapped: int, at_pass_start: int) -> bool:
    """Whether a rotation run stops after a pass: nothing is left but the unreadable rows,
    or the pass re-wrapped nothing (what is left, someone else keeps changing)."""
    return remaining <= unreadable or rewrapped == at_pass_start


def require_on_token(version: int, versions: Sequence[int]) -> None:
    """Refuse to act on a KEK version the token (`versions`) does not hold.

    Raises:
        NotFound: the token has no such KEK.
    """
    if version not in versions:
        raise NotFound(f"there is no KEK v{version} on the token")


def retire_refusal(version: int, versions: Sequence[int], in_use: int) -> tuple[str, str] | None:
    """Why KEK `version`, which the token holds, may not be retired yet, as (reason,
    message), before its age is considered: it is the current KEK (the newest of
    `versions`), or `in_use` credentials, whatever their status, are still wrapped under it.
    """
    if version == versions[-1]:
        return ("current_kek", f"KEK v{version} is the current KEK: rotate first")
    if in_use:
        return (
            "in_use",
            f"{in_use} credential(s) are still wrapped under KEK v{version}: "
            "finish the rotation first (otp-admin keys rotate)",
        )
    return None


def successor(version: int, versions: Sequence[int]) -> int:
    """The KEK version that replaced `version` (the next on the token)."""
    return next(v for v in versions if v > version)


def too_early(
    version: int, successor: int, created_at: float | None, grace: float, now: float
) -> tuple[str, str] | None:
    """Why KEK `version` may not be retired at `now`, as (reason, message): its `successor`
    was created (`created_at`, None when no audit event says) less than `grace` seconds
    ago, and running servers may still wrap new seeds under it until they rescan."""
    if created_at is None:
        return None
    wait = created_at + grace - now
    if wait <= 0:
        return None
    return "too_early", (
        f"KEK v{successor} is only {int(now - created_at)} s old: running servers "
        f"may still wrap new seeds under v{version} until they rescan the token; "
        f"try again in {int(wait) + 1} s"
    )


# -- what the HSM's extraction proof means for readiness ------------------------------------
# A missing guarantee keeps the server unready unless the security officer accepted it
# (`OTP_HSM_ACCEPT_WEAKNESSES`); `guarantees.WeaknessAudit` audits the accepted ones.


@dataclass(frozen=True)
class HsmGuarantees:
    """The proof's verdict as readiness needs it."""

    missing: list[str]
    """Guarantees an attempt broke that no officer accepted: the server is not ready."""
    accepted: list[str]
    """Guarantees an attempt broke that the officer accepted (audited)."""
    reason: str | None
    """Why the server is not ready, for /health/ready (None when it may be)."""


def judge(status: HsmStatus) -> HsmGuarantees:
    """The verdict on `status`'s proof."""
    broken = status.extraction.weaknesses
    missing = status.missing_guarantees
    accepted = [g for g in broken if g not in missing]
    reasons = []
    if missing:
        reasons.append(
            "the HSM lets seeds out: "
            + status.extraction.summary(missing)
            + " (no officer accepted this: OTP_HSM_ACCEPT_WEAKNESSES)"
        )
    if status.wrap_format is not None and status.wrap_format.mechanism is None:
        missing = [*missing, NO_RFC5649]
        tried = ", ".join(f"{m}: {a}" for m, a in status.wrap_format.answers.items())
        reasons.append(f"no mechanism wraps as RFC 5649 ({tried}): nothing can be provisioned")
    return HsmGuarantees(missing, accepted, "; ".join(reasons) or None)


NO_RFC5649 = "rfc5649-wrap"
"""What `judge` lists as missing on a module whose known-answer test found no RFC 5649
mechanism (`hsm.wire_format`): no officer can accept it."""
