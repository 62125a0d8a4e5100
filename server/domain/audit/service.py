"""Appending to and verifying the audit hash chain: the order of work.

An append locks the head, links the events (`rules.linked`), inserts them, and asks the
HSM's audit key to seal the new head; a verification walks the chain, applies the
verifier's rules and asks the HSM whether the seal is its own. Without the HSM key nobody
can forge a new seal. The chain's arithmetic and verdicts are `rules.py`, the SQL
`store.py` (docs/design.md §4).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy import event as sql_events
from sqlmodel import Session

from hsm import AuditSealer, HsmError
from server.clock import Clock
from server.domain.audit import store
from server.domain.audit.anchor import AnchorFile
from server.domain.audit.rules import (
    GENESIS,
    Anchor,
    AuditRecord,
    AuditReport,
    Head,
    anchor_problem,
    forged_seal,
    head_problem,
    link_problem,
    linked,
    may_reseal,
    seal_message,
    sealed_report,
    tail_is_ours,
)

log = structlog.get_logger("server.audit")


class AuditLog:
    """Appends events inside the caller's transaction and checks the chain."""

    def __init__(self, hsm: AuditSealer, clock: Clock, anchor: AnchorFile | None = None) -> None:
        self._hsm = hsm
        self._clock = clock
        self.anchor = anchor
        """Where committed seals are also written, outside the database (`anchor`)."""
        self._trusted: tuple[int, str | None] = (0, None)
        """(sealed seq, MAC) of the seal this process made or checked last."""
        self._own_tail: dict[int, str] = {}
        """Events this process appended after that seal while the HSM was away."""

    def append(self, connection: Connection, record: AuditRecord) -> int:
        """Add `record` as the next link in the caller's transaction; returns its seq."""
        return self.append_many(connection, [record])[-1]

    def record(
        self,
        connection: Connection,
        *,
        actor: str,
        action: str,
        subject: str = "",
        purpose: str = "",
        result: str = "",
        reason: str = "",
        source: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Add one event, described by its fields (see `AuditRecord`), as the next link in
        the caller's transaction; returns its seq."""
        event = AuditRecord(actor, action, subject, purpose, result, reason, source, details or {})
        return self.append(connection, event)

    def append_many(self, connection: Connection, records: Sequence[AuditRecord]) -> list[int]:
        """Add `records`, in order, in the caller's transaction; returns their seqs.

        The head is read and moved once, and the HSM seals only the newest event: the
        verify API appends all the decisions of one batch this way (group commit).
        """
        if not records:
            return []
        head = store.locked_head(connection)
        events = linked(records, head.seq, head.hash, self._clock())
        store.insert_events(connection, events)
        newest_seq, newest_hash = events[-1]["seq"], events[-1]["hash"]
        try:
            if not self._may_extend(connection, head):
                store.move_head(connection, newest_seq, newest_hash)
                return [e["seq"] for e in events]
            version, mac = self._hsm.audit_mac(seal_message(newest_seq, newest_hash))
        except HsmError as exc:
            log.warning("audit.unsealed", seq=newest_seq, reason=str(exc))
            self._own_tail.update((e["seq"], e["hash"]) for e in events)
            store.move_head(connection, newest_seq, newest_hash)
        else:
            self._trusted, self._own_tail = (newest_seq, mac.hex()), {}
            store.seal_head(connection, newest_seq, newest_hash, mac.hex(), version)
            if self.anchor is not None:  # once the transaction commits, never before
                sealed = Anchor(newest_seq, newest_hash, mac.hex(), version)
                anchor = self.anchor
                sql_events.listen(connection, "commit", lambda _: anchor.append(sealed), once=True)
        return [e["seq"] for e in events]

    def _may_extend(self, connection: Connection, head: Head) -> bool:
        """Whether a new seal may cover the chain as it stands: the stored seal must be the
        HSM's, and any unsealed events after it must be ones this process wrote itself.
        Otherwise (a removed or forged seal, a tail from elsewhere) the chain is left
        unsealed, which the verifier reports, until an officer reviews it and reseals.

        Raises:
            HsmError: the HSM cannot check the seal now.
        """
        if head.sealed_seq > 0 and (head.sealed_seq, head.mac) != self._trusted:
            if not self._seal_is_the_hsms(head):
                log.critical("audit.seal_invalid", sealed_seq=head.sealed_seq)
                return False
            self._trusted, self._own_tail = (head.sealed_seq, head.mac), {}
        if head.seq != head.sealed_seq and not tail_is_ours(
            store.tail(connection, head.sealed_seq, head.seq), self._own_tail
        ):
            log.critical(
                "audit.unsealed_tail_not_ours", sealed_seq=head.sealed_seq, head_seq=head.seq
            )
            return False
        return True

    def _seal_is_the_hsms(self, head: Head) -> bool:
        """Whether the HSM made `head`'s seal (asks it for the MAC of the sealed head).

        Raises:
            HsmError: the HSM cannot check the seal now.
        """
        _, expected = self._hsm.audit_mac(
            seal_message(head.sealed_seq, head.sealed_hash), head.key_version
        )
        return head.mac is not None and hmac.compare_digest(expected.hex(), head.mac)

    def reseal(self, connection: Connection, actor: str) -> AuditReport:
        """An officer's decision, after reviewing an unsealed tail: check the chain's links
        and seal its head as it is now. Audited."""
        report = self.verify(Session(bind=connection))
        if not may_reseal(report):
            return report  # nothing to seal, or a break that a seal must never cover
        head = store.locked_head(connection)
        version, mac = self._hsm.audit_mac(seal_message(head.seq, head.hash))
        store.seal_head(connection, head.seq, head.hash, mac.hex(), version)
        self._trusted, self._own_tail = (head.seq, mac.hex()), {}
        self.record(
            connection,
            actor=actor,
            action="audit.resealed",
            result="ok",
            details={"sealed_seq": head.seq},
        )
        return report

    def verify(
        self,
        session: Session,
        batch: int = 1000,
        anchors: Sequence[AnchorFile] | None = None,
    ) -> AuditReport:
        """Walk the whole chain; report the first event that is wrong, or OK. The chain is
        then held against each of `anchors` (default: this process's own anchor file)."""
        head = store.head(session)
        prev, expected, count = GENESIS, 1, 0
        sealed_hash: str | None = None
        while rows := store.events_after(session, expected - 1, batch):
            for event in rows:
                count += 1
                problem = link_problem(event, expected, prev, count)
                if problem is not None:
                    return problem
                if event.seq == head.sealed_seq:
                    sealed_hash = event.hash
                prev, expected = event.hash, expected + 1
        newest = expected - 1
        problem = head_problem(head, newest, prev, sealed_hash, count)
        if problem is not None:
            return problem
        if head.sealed_seq > 0 and not self._seal_is_the_hsms(head):
            return forged_seal(head, count)
        if anchors is None:
            anchors = [self.anchor] if self.anchor is not None else []
        for anchor_file in anchors:
            anchored = self._anchored_problem(session, anchor_file, head, count)
            if anchored is not None:
                return anchored
        return sealed_report(head, newest, count)

    def _anchored_problem(
        self, session: Session, anchor_file: AnchorFile, head: Head, count: int
    ) -> AuditReport | None:
        """The newest anchored seal that is the HSM's, held against the database's chain."""
        for anchor in reversed(anchor_file.anchors()):
            _, expected = self._hsm.audit_mac(
                seal_message(anchor.seq, anchor.hash), anchor.key_version
            )
            if not hmac.compare_digest(expected.hex(), anchor.mac):
                log.critical("audit.anchor_line_forged", seq=anchor.seq)
                continue  # a line the HSM did not seal proves nothing either way
            found = store.events_after(session, anchor.seq - 1, 1)
            at_seq = found[0].hash if found and found[0].seq == anchor.seq else None
            problem = anchor_problem(anchor, head, at_seq)
            if problem is None:
                return None
            return AuditReport(False, count, min(anchor.seq, head.seq + 1), problem)
        return None
