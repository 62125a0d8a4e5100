"""Appending to and verifying the audit hash chain.

Each event's hash is SHA-256(previous hash || canonical JSON of the event, seq included).
The head row holds the newest (seq, hash); after each append the HSM's audit key MACs it,
and (sealed_seq, sealed_hash, mac) move with it. Editing an event breaks its hash, deleting
one breaks the sequence, and deleting the newest ones leaves the sealed head pointing past
the end. Without the HSM key nobody can forge a new seal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import structlog
from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session, col, select

from hsm import AuditSealer, HsmError
from server.clock import Clock
from server.db.driver import DriverStatement
from server.db.models import AuditEvent, AuditHead

GENESIS = "0" * 64
log = structlog.get_logger("server.audit")


@dataclass(frozen=True)
class AuditRecord:
    """What happened, as a caller describes it (never with a code, seed or password)."""

    actor: str
    action: str
    subject: str = ""
    purpose: str = ""
    result: str = ""
    reason: str = ""
    source: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditReport:
    """The verifier's verdict.

    Attributes:
        ok: the chain is intact and its seal is valid.
        events: events read.
        first_bad_seq: the first event altered, missing or out of place (None when ok).
        problem: what is wrong, in words.
        unsealed: events after the last HSM seal (appended while the HSM was unavailable).
    """

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    unsealed: int = 0


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# The C encoder behind `_CANONICAL`, made once: `JSONEncoder.encode` makes a new one on
# every call, which was a third of the cost of an audit event's hash. Without circular
# checks: events are plain dicts of strings and numbers. None where CPython has no _json.
_MAKE_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_CANONICAL = (
    None
    if _MAKE_C_ENCODER is None
    else _MAKE_C_ENCODER(
        None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
)


def canonical(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 (the text of
    `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`)."""
    if _C_CANONICAL is None or isinstance(value, str):
        return _CANONICAL.encode(value)
    return "".join(_C_CANONICAL(value, 0))


FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "subject",
    "purpose",
    "result",
    "reason",
    "source",
    "details",
)


def event_hash(prev_hash: str, event: AuditEvent | dict[str, Any]) -> str:
    """The chain hash of `event` after `prev_hash`."""
    values = event if isinstance(event, dict) else event.model_dump()
    data = bytes.fromhex(prev_hash) + canonical({k: values[k] for k in FIELDS}).encode()
    return hashlib.sha256(data).hexdigest()


def seal_message(seq: int, chain_hash: str) -> bytes:
    """What the HSM MACs for a head at `seq` with `chain_hash`."""
    return b"otp-audit-head\x00" + seq.to_bytes(8, "big") + bytes.fromhex(chain_hash)


class _Head(NamedTuple):
    seq: int
    hash: str
    sealed_seq: int
    sealed_hash: str
    mac: str | None
    key_version: int | None


# Built once: constructing SQLAlchemy statements per call costs more than running them.
# The head's are read and written once per verify batch: on the driver's cursor.
_LOCK_HEAD = DriverStatement(
    select(  # type: ignore[call-overload]
        col(AuditHead.seq),
        col(AuditHead.hash),
        col(AuditHead.sealed_seq),
        col(AuditHead.sealed_hash),
        col(AuditHead.mac),
        col(AuditHead.key_version),
    )
    .where(col(AuditHead.id) == 1)
    .with_for_update()
)
_TAIL = (
    select(col(AuditEvent.seq), col(AuditEvent.hash))
    .where(col(AuditEvent.seq) > bindparam("after"))
    .where(col(AuditEvent.seq) <= bindparam("upto"))
    .order_by(col(AuditEvent.seq))
)
# once per verify batch, with a row per request: on the driver's cursor
_INSERT_EVENT = DriverStatement(
    insert(AuditEvent).values({name: bindparam(name) for name in (*FIELDS, "prev_hash", "hash")})
)
_MOVE_HEAD = DriverStatement(
    update(AuditHead)
    .where(col(AuditHead.id) == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_SEAL_HEAD = DriverStatement(
    update(AuditHead)
    .where(col(AuditHead.id) == 1)
    .values(
        seq=bindparam("new_seq"),
        hash=bindparam("new_hash"),
        sealed_seq=bindparam("new_seq"),
        sealed_hash=bindparam("new_hash"),
        mac=bindparam("new_mac"),
        key_version=bindparam("new_version"),
    )
)


def _locked_head(connection: Connection) -> _Head:
    """The head row, locked for the rest of the transaction (PostgreSQL; SQLite's write
    transaction holds the whole database)."""
    rows = _LOCK_HEAD.rows(connection, {})
    if len(rows) != 1:
        raise NoResultFound("the audit head row is missing: run `otp-admin db upgrade`")
    return _Head(*rows[0])


class AuditLog:
    """Appends events inside the caller's transaction and checks the chain."""

    def __init__(self, hsm: AuditSealer, clock: Clock) -> None:
        self._hsm = hsm
        self._clock = clock
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
        head = _locked_head(connection)
        prev_hash, at = head.hash, self._clock()
        events: list[dict[str, Any]] = []
        for seq, record in enumerate(records, start=head.seq + 1):
            event: dict[str, Any] = {
                "seq": seq,
                "at": at,
                "actor": record.actor,
                "action": record.action,
                "subject": record.subject,
                "purpose": record.purpose,
                "result": record.result,
                "reason": record.reason,
                "source": record.source,
                "details": canonical(dict(record.details)),
                "prev_hash": prev_hash,
            }
            event["hash"] = prev_hash = event_hash(prev_hash, event)
            events.append(event)
        _INSERT_EVENT.executemany(connection, events)
        newest = {"new_seq": events[-1]["seq"], "new_hash": prev_hash}
        try:
            if not self._may_extend(connection, head):
                _MOVE_HEAD.rowcount(connection, newest)
                return [e["seq"] for e in events]
            version, mac = self._hsm.audit_mac(seal_message(newest["new_seq"], prev_hash))
        except HsmError as exc:
            log.warning("audit.unsealed", seq=newest["new_seq"], reason=str(exc))
            self._own_tail.update((e["seq"], e["hash"]) for e in events)
            _MOVE_HEAD.rowcount(connection, newest)
        else:
            self._trusted, self._own_tail = (newest["new_seq"], mac.hex()), {}
            _SEAL_HEAD.rowcount(
                connection, {**newest, "new_mac": mac.hex(), "new_version": version}
            )
        return [e["seq"] for e in events]

    def _may_extend(self, connection: Connection, head: _Head) -> bool:
        """Whether a new seal may cover the chain as it stands: the stored seal must be the
        HSM's, and any unsealed events after it must be ones this process wrote itself.
        Otherwise (a removed or forged seal, a tail from elsewhere) the chain is left
        unsealed, which the verifier reports, until an officer reviews it and reseals.

        Raises:
            HsmError: the HSM cannot check the seal now.
        """
        if head.sealed_seq > 0 and (head.sealed_seq, head.mac) != self._trusted:
            _, expected = self._hsm.audit_mac(
                seal_message(head.sealed_seq, head.sealed_hash), head.key_version
            )
            if head.mac is None or not hmac.compare_digest(expected.hex(), head.mac):
                log.critical("audit.seal_invalid", sealed_seq=head.sealed_seq)
                return False
            self._trusted, self._own_tail = (head.sealed_seq, head.mac), {}
        if head.seq != head.sealed_seq:
            tail = connection.execute(_TAIL, {"after": head.sealed_seq, "upto": head.seq}).all()
            if any(self._own_tail.get(seq) != chain_hash for seq, chain_hash in tail):
                log.critical(
                    "audit.unsealed_tail_not_ours", sealed_seq=head.sealed_seq, head_seq=head.seq
                )
                return False
        return True

    def reseal(self, connection: Connection, actor: str) -> AuditReport:
        """An officer's decision, after reviewing an unsealed tail: check the chain's links
        and seal its head as it is now. Audited."""
        report = self.verify(Session(bind=connection))
        if report.ok or (report.problem and "not sealed" not in report.problem):
            return report  # nothing to seal, or a break that a seal must never cover
        head = _locked_head(connection)
        version, mac = self._hsm.audit_mac(seal_message(head.seq, head.hash))
        _SEAL_HEAD.rowcount(
            connection,
            {
                "new_seq": head.seq,
                "new_hash": head.hash,
                "new_mac": mac.hex(),
                "new_version": version,
            },
        )
        self._trusted, self._own_tail = (head.seq, mac.hex()), {}
        self.record(
            connection,
            actor=actor,
            action="audit.resealed",
            result="ok",
            details={"sealed_seq": head.seq},
        )
        return report

    def verify(self, session: Session, batch: int = 1000) -> AuditReport:
        """Walk the whole chain; report the first event that is wrong, or OK."""
        head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
        prev, expected, count = GENESIS, 1, 0
        hashes_at: dict[int, str] = {}
        last = 0
        while True:
            rows = session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.seq) > last)
                .order_by(col(AuditEvent.seq))
                .limit(batch)
            ).all()
            if not rows:
                break
            for event in rows:
                count += 1
                if event.seq != expected:
                    return AuditReport(False, count, expected, f"event {expected} is missing")
                if event.prev_hash != prev:
                    return AuditReport(
                        False,
                        count,
                        event.seq,
                        f"event {event.seq} does not link to event {expected - 1}",
                    )
                if event_hash(prev, event) != event.hash:
                    return AuditReport(False, count, event.seq, f"event {event.seq} was altered")
                if event.seq == head.sealed_seq:
                    hashes_at[event.seq] = event.hash
                prev, expected, last = event.hash, expected + 1, event.seq
        newest = expected - 1
        return self._check_head(head, newest, prev, hashes_at, count)

    def _check_head(
        self, head: AuditHead, newest: int, newest_hash: str, hashes_at: dict[int, str], count: int
    ) -> AuditReport:
        if head.sealed_seq > newest or head.seq > newest:
            return AuditReport(
                False,
                count,
                newest + 1,
                f"events {newest + 1} to {max(head.seq, head.sealed_seq)} are "
                "missing: the newest events were removed",
            )
        if head.seq != newest or head.hash != newest_hash:
            return AuditReport(
                False,
                count,
                head.seq + 1,
                f"the head names event {head.seq}, but the chain ends at {newest}",
            )
        if head.sealed_seq > 0:
            if hashes_at.get(head.sealed_seq) != head.sealed_hash:
                return AuditReport(
                    False,
                    count,
                    head.sealed_seq,
                    f"the sealed head does not match event {head.sealed_seq}",
                )
            if head.mac is None or head.key_version is None:
                return AuditReport(False, count, head.sealed_seq, "the head seal is missing")
            _, expected_mac = self._hsm.audit_mac(
                seal_message(head.sealed_seq, head.sealed_hash), head.key_version
            )
            if not hmac.compare_digest(expected_mac.hex(), head.mac):
                return AuditReport(
                    False,
                    count,
                    head.sealed_seq,
                    "the head seal is not the HSM's: the head was rewritten",
                )
        elif newest > 0 and head.mac is not None:
            return AuditReport(False, count, 1, "the head seal does not belong to this chain")
        unsealed = newest - head.sealed_seq
        if unsealed:
            return AuditReport(
                False,
                count,
                head.sealed_seq + 1,
                f"the newest {unsealed} events are not sealed by the HSM "
                "(written while it was unavailable, or the seal was removed): "
                "review them, then reseal",
                unsealed=unsealed,
            )
        return AuditReport(True, count)
