"""The audit chain's rules: the hash chain's arithmetic and the verifier's verdicts, pure
functions and small value types, no I/O, no clock and no HSM (what the HSM said is given).

Each event's hash is SHA-256(previous hash || canonical JSON of the event, seq included).
The head holds the newest (seq, hash); the HSM's audit key MACs a head (`seal_message`),
and (sealed_seq, sealed_hash, mac) record the newest seal. Editing an event breaks its
hash, deleting one breaks the sequence, and deleting the newest ones leaves the sealed head
pointing past the end. The service (`service.py`) reads, asks the HSM, applies these and
writes (`store.py`); docs/design.md §4 says where each rule lives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from server.db.models import AuditEvent

GENESIS = "0" * 64
"""The hash the first event links to."""


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


class Head(NamedTuple):
    """The head row: the newest event, and the newest seal the HSM made."""

    seq: int
    hash: str
    sealed_seq: int
    sealed_hash: str
    mac: str | None
    key_version: int | None


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
"""An event's fields that its hash covers."""


def event_hash(prev_hash: str, event: AuditEvent | dict[str, Any]) -> str:
    """The chain hash of `event` after `prev_hash`."""
    values = event if isinstance(event, dict) else event.model_dump()
    data = bytes.fromhex(prev_hash) + canonical({k: values[k] for k in FIELDS}).encode()
    return hashlib.sha256(data).hexdigest()


def seal_message(seq: int, chain_hash: str) -> bytes:
    """What the HSM MACs for a head at `seq` with `chain_hash`."""
    return b"otp-audit-head\x00" + seq.to_bytes(8, "big") + bytes.fromhex(chain_hash)


def linked(
    records: Sequence[AuditRecord], after_seq: int, prev_hash: str, at: float
) -> list[dict[str, Any]]:
    """`records` as the events that follow event `after_seq` (whose hash is `prev_hash`),
    in order, each with its seq, time, previous hash and hash: the rows to insert."""
    events: list[dict[str, Any]] = []
    for seq, record in enumerate(records, start=after_seq + 1):
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
    return events


def tail_is_ours(tail: Sequence[tuple[int, str]], own_tail: Mapping[int, str]) -> bool:
    """Whether every unsealed event of `tail` ((seq, hash) after the seal) is one this
    process appended itself (`own_tail`), so that a new seal may cover it."""
    return all(own_tail.get(seq) == chain_hash for seq, chain_hash in tail)


def link_problem(
    event: AuditEvent, expected_seq: int, prev_hash: str, count: int
) -> AuditReport | None:
    """What is wrong with `event`, read as the `count`th, where event `expected_seq` after
    one whose hash is `prev_hash` should be; None when it links."""
    if event.seq != expected_seq:
        return AuditReport(False, count, expected_seq, f"event {expected_seq} is missing")
    if event.prev_hash != prev_hash:
        return AuditReport(
            False,
            count,
            event.seq,
            f"event {event.seq} does not link to event {expected_seq - 1}",
        )
    if event_hash(prev_hash, event) != event.hash:
        return AuditReport(False, count, event.seq, f"event {event.seq} was altered")
    return None


def head_problem(
    head: Head, newest: int, newest_hash: str, sealed_hash: str | None, count: int
) -> AuditReport | None:
    """What is wrong with `head` for a chain of `count` intact events that ends at event
    `newest` with `newest_hash` (`sealed_hash`: the chain's hash at the head's sealed
    seq, None if it has no such event), before the HSM is asked whether the seal is its
    own; None when nothing is, and the seal (if any) is then to be checked."""
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
        if sealed_hash != head.sealed_hash:
            return AuditReport(
                False,
                count,
                head.sealed_seq,
                f"the sealed head does not match event {head.sealed_seq}",
            )
        if head.mac is None or head.key_version is None:
            return AuditReport(False, count, head.sealed_seq, "the head seal is missing")
    elif newest > 0 and head.mac is not None:
        return AuditReport(False, count, 1, "the head seal does not belong to this chain")
    return None


def forged_seal(head: Head, count: int) -> AuditReport:
    """The verdict when the HSM did not make the head's seal."""
    return AuditReport(
        False,
        count,
        head.sealed_seq,
        "the head seal is not the HSM's: the head was rewritten",
    )


def sealed_report(head: Head, newest: int, count: int) -> AuditReport:
    """The verdict on an intact chain whose seal is the HSM's: OK, unless events after the
    seal are not sealed yet."""
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


def may_reseal(report: AuditReport) -> bool:
    """Whether an officer's reseal may seal the chain `report` describes: only an intact
    chain whose newest events are not sealed; never an OK chain (nothing to seal), nor a
    break that a seal must never cover."""
    return not (report.ok or (report.problem and "not sealed" not in report.problem))


@dataclass(frozen=True)
class Anchor:
    """One sealed head, as the anchor file recorded it."""

    seq: int
    hash: str
    mac: str
    key_version: int


def anchor_problem(anchor: Anchor, head: Head, hash_at_seq: str | None) -> str | None:
    """What an anchored seal says about the database's chain: None when it holds."""
    if anchor.seq > head.seq:
        return (
            f"the chain ends at seq {head.seq} but the anchor holds a seal of seq {anchor.seq}: "
            "newer events were removed, or an older copy of the database was restored"
        )
    if hash_at_seq != anchor.hash:
        return f"the event at seq {anchor.seq} is not the one the anchor sealed: it was rewritten"
    return None
