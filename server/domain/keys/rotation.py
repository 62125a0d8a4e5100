"""Online KEK rotation: a new KEK version, then every older credential re-wrapped under it.

The seed never leaves the HSM: `Hsm.rewrap_seeds` unwraps each blob into a session object
and wraps it again under the target KEK, a batch per call. Each batch is then written in one
transaction, every row with the same conditional UPDATE (one executemany):

    UPDATE credentials SET wrapped_seed = :new, ocra_wrapped_seed = :new_ocra,
                           kek_version = :target
     WHERE id = :id AND kek_version = :old AND wrapped_seed = :old_blob
       AND ocra_wrapped_seed IS NOT DISTINCT FROM :old_ocra_blob

so a row that someone changed meanwhile (a new seed, another rotation) is skipped, never
overwritten, and looked at again by the next pass. Every column changes in one statement, so
every row is at every moment either (old blobs, old version) or (new blobs, new version): a
server reading it can unwrap either while both KEKs exist. A credential's OCRA seed (issue
22) shares `kek_version` with its seed, so both blobs move together or not at all: a row
with only one re-wrapped would lose the other when the old KEK is retired. That is also
why a rotation killed at any point (even `kill -9`) loses nothing, and why running it again
finishes the job: it finds the newest KEK already newer than some credentials and resumes
instead of creating another.

Retiring (destroying) an old KEK is refused while any credential, whatever its status, is
still wrapped under it, and while running servers may still wrap new seeds under it (they
rescan the token for keys every minute). Every step is in the audit trail:

| action      | when                                                        |
|-------------|-------------------------------------------------------------|
| key.create  | a KEK version was created (or found unrecorded on resume)   |
| key.rotate  | a rotation started, resumed, or finished                    |
| key.rewrap  | one batch committed (or credentials found unreadable)       |
| key.retire  | a KEK version destroyed, or a refused attempt and why       |

The order of work lives here; the decisions (start or resume, what a batch writes, when a
run stops, whether a KEK may be retired yet) are `rules.py`, the SQL `store.py`
(docs/design.md §2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from hsm import HsmError, KeyAdministration, KeyNotFound, KeyPurpose, SeedRejected, WrappedSeed
from hsm.keys import key_label
from server.clock import Clock
from server.db.engine import Database
from server.domain.audit.service import AuditLog
from server.domain.keys import store
from server.domain.keys.rules import (
    DEFAULT_BATCH,
    DEFAULT_RETIRE_GRACE,
    MAX_PASSES,
    KekUsage,
    RotationPlan,
    RotationReport,
    WrappedRow,
    batch_details,
    current_kek,
    inventory,
    require_on_token,
    retire_refusal,
    rewrap_writes,
    run_finished,
    successor,
    too_early,
)
from server.errors import Conflict, ServiceUnavailable


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
            counts = store.counts_by_version(connection)
        return inventory(versions, counts)

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
            store.lock_officers(connection)
            versions = self.token_versions()
            current = current_kek(versions, store.newest_used(connection), self._hsm.token_label)
            pending = store.count_older(connection, current)
            if pending:
                plan = RotationPlan(current, current, created=False, pending=pending)
                if not store.creation_recorded(connection, _kek_label(current)):
                    self._record(connection, actor, "key.create", current, recorded_late=True)
            else:
                try:
                    target = self._hsm.create_kek()
                except HsmError as exc:
                    raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
                self._record(connection, actor, "key.create", target, previous=current)
                plan = RotationPlan(
                    target, current, created=True, pending=store.count_older(connection, target)
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
                report.remaining = store.count_older(connection, plan.target)
            if run_finished(report.remaining, len(unreadable), report.rewrapped, at_pass_start):
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

    def _next_batch(self, target: int, after: int) -> list[WrappedRow]:
        with self._db.reading() as connection:
            return store.older_than(connection, target, after, self.batch_size)

    def _rotate_batch(
        self,
        rows: list[WrappedRow],
        target: int,
        actor: str,
        report: RotationReport,
        unreadable: set[int],
    ) -> None:
        params, bad = rewrap_writes(rows, self._rewrap(rows, target))
        with self._db.engine.begin() as connection:
            # One executemany; its row count says how many rows were still as we read them.
            changed = store.rewrap(connection, params)
            skipped = len(params) - changed
            details = batch_details(rows, bad, target, len(params), changed)
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

    def _rewrap(self, rows: list[WrappedRow], target: int) -> list[list[WrappedSeed] | None]:
        """One HSM call for the batch (every row's seeds: its seed and its OCRA seed); if a
        blob in it is bad, one call per row to find it. A row gets its new blobs in the
        order of `row.seeds`, or None when any of them did not unwrap."""
        try:
            flat = list(
                self._hsm.rewrap_seeds([s for r in rows for s in r.seeds], to_version=target)
            )
        except (SeedRejected, KeyNotFound):
            pass
        except HsmError as exc:
            raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        else:
            result: list[list[WrappedSeed] | None] = []
            for row in rows:
                result.append(flat[: len(row.seeds)])
                del flat[: len(row.seeds)]
            return result
        result = []
        for row in rows:
            try:
                result.append(list(self._hsm.rewrap_seeds(row.seeds, to_version=target)))
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
            store.lock_officers(connection)
            versions = self.token_versions()
            require_on_token(version, versions)
            in_use = store.count_under(connection, version)
            refusal = retire_refusal(version, versions, in_use)
            if refusal is None:
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
        after = successor(version, versions)
        created = store.created_at(connection, _kek_label(after))
        return too_early(version, after, created, grace, self._clock())

    # -- helpers -----------------------------------------------------------------------------

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
