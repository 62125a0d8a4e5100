"""Online KEK rotation: a new KEK version, then every older credential re-wrapped under it.

The seed never leaves the HSM: `Hsm.rewrap_seeds` unwraps each blob into a session object
and wraps it again under the target KEK, a batch per call. Each batch is then written in one
transaction, every row with the same conditional UPDATE (one executemany):

    UPDATE credentials SET wrapped_seed = :new, kek_version = :target
     WHERE id = :id AND kek_version = :old AND wrapped_seed = :old_blob

so a row that someone changed meanwhile (a new seed, another rotation) is skipped, never
overwritten, and looked at again by the next pass. Both columns change in one statement, so
every row is at every moment either (old blob, old version) or (new blob, new version): a
server reading it can unwrap either while both KEKs exist. That is also why a rotation killed
at any point (even `kill -9`) loses nothing, and why running it again finishes the job: it
finds the newest KEK already newer than some credentials and resumes instead of creating
another.

Retiring (destroying) an old KEK is refused while any credential, whatever its status, is
still wrapped under it, and while running servers may still wrap new seeds under it (they
rescan the token for keys every minute). Every step is in the audit trail:

| action      | when                                                        |
|-------------|-------------------------------------------------------------|
| key.create  | a KEK version was created (or found unrecorded on resume)   |
| key.rotate  | a rotation started, resumed, or finished                    |
| key.rewrap  | one batch committed (or credentials found unreadable)       |
| key.retire  | a KEK version destroyed, or a refused attempt and why       |
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlmodel import col

from hsm import HsmError, KeyAdministration, KeyNotFound, KeyPurpose, SeedRejected, WrappedSeed
from hsm.keys import key_label
from server.clock import Clock
from server.db.engine import Database
from server.db.models import AuditEvent, AuditHead, Credential
from server.domain.audit.services import AuditLog
from server.errors import Conflict, NotFound, ServiceUnavailable

DEFAULT_BATCH = 200
MAX_PASSES = 10
SERVER_KEY_REFRESH_SECONDS = 60.0
"""How often a running server rescans the token for keys (`HsmConfig.key_refresh_interval`)."""
DEFAULT_RETIRE_GRACE = 2 * SERVER_KEY_REFRESH_SECONDS

_REWRAP = (
    update(Credential)
    .where(col(Credential.id) == bindparam("cid"))
    .where(col(Credential.kek_version) == bindparam("old_version"))
    .where(col(Credential.wrapped_seed) == bindparam("old_blob"))
    .values(wrapped_seed=bindparam("new_blob"), kek_version=bindparam("new_version"))
)
_LOCK_HEAD = select(col(AuditHead.seq)).where(col(AuditHead.id) == 1).with_for_update()


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
class _Row:
    id: int
    public_id: str
    seed: WrappedSeed


class KeyRotation:
    """Creates KEK versions, re-wraps credentials under the newest, retires old versions.

    Args:
        db: the database (rotation reads without locks and writes a batch per transaction).
        hsm: the HSM holding the KEKs.
        audit: where each step is recorded.
        clock: the time source (audit times, retirement grace).
        batch_size: credentials per HSM call and per transaction.
        pause: seconds to wait between batches, to leave the HSM to the servers.
        sleep: how to wait (tests pass a fake).
    """

    def __init__(
        self,
        db: Database,
        hsm: KeyAdministration,
        audit: AuditLog,
        clock: Clock,
        *,
        batch_size: int = DEFAULT_BATCH,
        pause: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1:
            raise ValueError("a batch holds at least one credential")
        self._db = db
        self._hsm = hsm
        self._audit = audit
        self._clock = clock
        self.batch_size = batch_size
        self.pause = pause
        self._sleep = sleep

    # -- inventory ---------------------------------------------------------------------------

    def token_versions(self) -> list[int]:
        """KEK versions on the token now (scanned again: another process may have added one)."""
        try:
            self._hsm.reload_keys()
            keys = self._hsm.keys()
        except HsmError as exc:
            raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        return sorted(k.version for k in keys if k.purpose is KeyPurpose.SEED_WRAPPING)

    def usage(self, versions: Sequence[int] | None = None) -> list[KekUsage]:
        """Every KEK version on the token or named by a credential, with its credential counts."""
        versions = list(self.token_versions() if versions is None else versions)
        with self._db.reading() as connection:
            rows = connection.execute(
                select(col(Credential.kek_version), col(Credential.status), func.count())
                .group_by(col(Credential.kek_version), col(Credential.status))
                .order_by(col(Credential.kek_version))
            ).all()
        counts: dict[int, dict[str, int]] = {}
        for version, status, count in rows:
            counts.setdefault(int(version), {})[str(status)] = int(count)
        current = max(versions) if versions else None
        return [
            KekUsage(v, v in versions, v == current, counts.get(v, {}))
            for v in sorted(set(versions) | set(counts))
        ]

    # -- rotation ----------------------------------------------------------------------------

    def start(self, actor: str) -> RotationPlan:
        """Create KEK n+1, or resume when the newest KEK is newer than some credentials.

        Runs under the database write lock (and the audit head's row lock on PostgreSQL), so
        two officers starting at once create one KEK, not two.

        Raises:
            NotFound: the token has no KEK at all.
            Conflict: credentials name a KEK version newer than any on the token.
            ServiceUnavailable: the HSM cannot be used.
        """
        with self._db.transaction() as session:
            connection = session.connection()
            connection.execute(_LOCK_HEAD)
            versions = self.token_versions()
            if not versions:
                raise NotFound("the token has no KEK: run `otp-admin hsm init-keys` first")
            current = versions[-1]
            newest_used = connection.execute(select(func.max(Credential.kek_version))).scalar()
            if newest_used is not None and newest_used > current:
                raise Conflict(
                    f"credentials are wrapped under KEK v{newest_used}, which is not on token "
                    f"{self._hsm.token_label!r}: is this the right token?"
                )
            pending = self._count_older(connection, current)
            if pending:
                plan = RotationPlan(current, current, created=False, pending=pending)
                if not self._creation_recorded(connection, current):
                    self._record(connection, actor, "key.create", current, recorded_late=True)
            else:
                try:
                    target = self._hsm.create_kek()
                except HsmError as exc:
                    raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
                self._record(connection, actor, "key.create", target, previous=current)
                plan = RotationPlan(
                    target, current, created=True, pending=self._count_older(connection, target)
                )
            self._audit.record(
                connection,
                actor=actor,
                action="key.rotate",
                subject=_kek_label(plan.target),
                result="started" if plan.created else "resumed",
                details={"to": plan.target, "pending": plan.pending},
            )
        return plan

    def run(
        self,
        plan: RotationPlan,
        actor: str,
        on_progress: Callable[[int], None] = lambda _done: None,
    ) -> RotationReport:
        """Re-wrap every credential under a KEK older than `plan.target`, a batch at a time.

        Passes over the table in id order until a pass finds nothing left to do (rows that
        were skipped because they changed, or that an out-of-date server wrapped under an old
        KEK meanwhile, are picked up by the next pass).

        Args:
            plan: from `start`.
            actor: who is rotating, for the audit trail.
            on_progress: called with the number of rows each committed batch re-wrapped.

        Raises:
            ServiceUnavailable: the HSM went away (run again to resume).
        """
        report = RotationReport(plan.target)
        unreadable: set[int] = set()
        started = time.monotonic()
        for _ in range(MAX_PASSES):
            at_pass_start = report.rewrapped
            after = 0
            while rows := self._next_batch(plan.target, after):
                after = rows[-1].id
                rows = [r for r in rows if r.id not in unreadable]
                if not rows:
                    continue
                before = report.rewrapped
                self._rotate_batch(rows, plan.target, actor, report, unreadable)
                on_progress(report.rewrapped - before)
                if self.pause:
                    self._sleep(self.pause)
            with self._db.reading() as connection:
                report.remaining = self._count_older(connection, plan.target)
            if report.remaining <= len(unreadable) or report.rewrapped == at_pass_start:
                break
        report.seconds = time.monotonic() - started
        with self._db.engine.begin() as connection:
            self._audit.record(
                connection,
                actor=actor,
                action="key.rotate",
                subject=_kek_label(plan.target),
                result="done" if report.remaining == 0 else "incomplete",
                details={
                    "to": plan.target,
                    "rewrapped": report.rewrapped,
                    "skipped": report.skipped,
                    "unreadable": len(report.unreadable),
                    "remaining": report.remaining,
                },
            )
        return report

    def _next_batch(self, target: int, after: int) -> list[_Row]:
        with self._db.reading() as connection:
            rows: Sequence[Any] = connection.execute(
                select(
                    col(Credential.id),
                    col(Credential.public_id),
                    col(Credential.wrapped_seed),
                    col(Credential.kek_version),
                    col(Credential.seed_length),
                )
                .where(col(Credential.kek_version) < target)
                .where(col(Credential.id) > after)
                .order_by(col(Credential.id))
                .limit(self.batch_size)
            ).all()
        return [_Row(r[0], r[1], WrappedSeed(bytes(r[2]), r[3], r[4])) for r in rows]

    def _rotate_batch(
        self,
        rows: list[_Row],
        target: int,
        actor: str,
        report: RotationReport,
        unreadable: set[int],
    ) -> None:
        rewrapped = self._rewrap(rows, target)
        bad = [row for row, new in zip(rows, rewrapped, strict=True) if new is None]
        params = [
            {
                "cid": row.id,
                "old_version": row.seed.kek_version,
                "old_blob": row.seed.blob,
                "new_blob": new.blob,
                "new_version": new.kek_version,
            }
            for row, new in zip(rows, rewrapped, strict=True)
            if new is not None
        ]
        with self._db.engine.begin() as connection:
            # One executemany; its row count says how many rows were still as we read them.
            changed = connection.execute(_REWRAP, params).rowcount if params else 0
            skipped = len(params) - changed
            details: dict[str, Any] = {
                "to": target,
                "rewrapped": changed,
                "skipped": skipped,
                "first_id": rows[0].id,
                "last_id": rows[-1].id,
            }
            if bad:
                details["unreadable"] = [row.public_id for row in bad]
            self._audit.record(
                connection,
                actor=actor,
                action="key.rewrap",
                subject=_kek_label(target),
                result="ok" if not bad else "partial",
                reason="" if not bad else "unreadable",
                details=details,
            )
        unreadable.update(row.id for row in bad)
        report.unreadable.extend(row.public_id for row in bad)
        report.rewrapped += changed
        report.skipped += skipped
        report.batches += 1

    def _rewrap(self, rows: list[_Row], target: int) -> list[WrappedSeed | None]:
        """One HSM call for the batch; if a blob in it is bad, one call per row to find it."""
        try:
            return list(self._hsm.rewrap_seeds([r.seed for r in rows], to_version=target))
        except (SeedRejected, KeyNotFound):
            pass
        except HsmError as exc:
            raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        result: list[WrappedSeed | None] = []
        for row in rows:
            try:
                result.append(self._hsm.rewrap_seeds([row.seed], to_version=target)[0])
            except (SeedRejected, KeyNotFound):
                result.append(None)
            except HsmError as exc:
                raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        return result

    # -- retirement --------------------------------------------------------------------------

    def retire(
        self, version: int, actor: str, *, grace_seconds: float = DEFAULT_RETIRE_GRACE
    ) -> None:
        """Destroy KEK `version` in the HSM; refused (and audited as refused) while unsafe.

        Refused when it is the current KEK, while any credential (whatever its status) is
        still wrapped under it, or within `grace_seconds` of the creation of the KEK that
        replaced it (running servers may still wrap new seeds under it until they rescan).

        Raises:
            NotFound: the token has no such KEK.
            Conflict: retiring it now is refused; the reason is in the message.
        """
        refusal: tuple[str, str] | None = None
        with self._db.transaction() as session:
            connection = session.connection()
            connection.execute(_LOCK_HEAD)
            versions = self.token_versions()
            if version not in versions:
                raise NotFound(f"there is no KEK v{version} on the token")
            in_use = connection.execute(
                select(func.count()).where(col(Credential.kek_version) == version)
            ).scalar_one()
            if version == versions[-1]:
                refusal = ("current_kek", f"KEK v{version} is the current KEK: rotate first")
            elif in_use:
                refusal = (
                    "in_use",
                    f"{in_use} credential(s) are still wrapped under KEK v{version}: "
                    "finish the rotation first (otp-admin keys rotate)",
                )
            else:
                refusal = self._too_early(connection, version, versions, grace_seconds)
            if refusal is None:
                try:
                    self._hsm.destroy_kek(version)
                except HsmError as exc:
                    raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
            self._audit.record(
                connection,
                actor=actor,
                action="key.retire",
                subject=_kek_label(version),
                result="ok" if refusal is None else "refused",
                reason="" if refusal is None else refusal[0],
                details={"version": version, "credentials": int(in_use)},
            )
        if refusal is not None:
            raise Conflict(refusal[1])

    def _too_early(
        self, connection: Connection, version: int, versions: list[int], grace: float
    ) -> tuple[str, str] | None:
        successor = next(v for v in versions if v > version)
        created_at = connection.execute(
            select(func.min(AuditEvent.at))
            .where(col(AuditEvent.action) == "key.create")
            .where(col(AuditEvent.subject) == _kek_label(successor))
        ).scalar()
        if created_at is None:
            return None
        now = self._clock()
        wait = created_at + grace - now
        if wait <= 0:
            return None
        return "too_early", (
            f"KEK v{successor} is only {int(now - created_at)} s old: running servers "
            f"may still wrap new seeds under v{version} until they rescan the token; "
            f"try again in {int(wait) + 1} s"
        )

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _count_older(connection: Connection, version: int) -> int:
        return int(
            connection.execute(
                select(func.count()).where(col(Credential.kek_version) < version)
            ).scalar_one()
        )

    @staticmethod
    def _creation_recorded(connection: Connection, version: int) -> bool:
        return (
            connection.execute(
                select(col(AuditEvent.seq))
                .where(col(AuditEvent.action) == "key.create")
                .where(col(AuditEvent.subject) == _kek_label(version))
                .limit(1)
            ).first()
            is not None
        )

    def _record(
        self, connection: Connection, actor: str, action: str, version: int, **details: Any
    ) -> None:
        self._audit.record(
            connection,
            actor=actor,
            action=action,
            subject=_kek_label(version),
            result="ok",
            details={"version": version, **details},
        )


def _kek_label(version: int) -> str:
    return key_label(KeyPurpose.SEED_WRAPPING, version)
