"""The audit chain's rules alone: the hash chain's arithmetic and the verifier's verdicts,
with no database, HSM or clock (milliseconds). `test_audit.py` runs the same verdicts on a
real chain, sealed by a real HSM."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest

from server.db.models import AuditEvent
from server.domain.audit.rules import (
    FIELDS,
    GENESIS,
    AuditRecord,
    AuditReport,
    Head,
    canonical,
    event_hash,
    forged_seal,
    head_problem,
    link_problem,
    linked,
    may_reseal,
    seal_message,
    sealed_report,
    tail_is_ours,
)

AT = 1_800_000_000.5
RECORDS = [
    AuditRecord("client:netbank", "verify", "alice", "login", "accepted", "accepted", "10.0.0.1"),
    AuditRecord("officer:bob", "credential.unlock", "alice", details={"credential": "c-1"}),
    AuditRecord("server", "hsm.weakness-accepted", details={"guarantees": ["b", "a"]}),
]


def _chain(records: list[AuditRecord] = RECORDS) -> list[AuditEvent]:
    return [AuditEvent(**event) for event in linked(records, 0, GENESIS, AT)]


def _head(chain: list[AuditEvent], sealed: int, mac: str | None = "ab" * 32) -> Head:
    sealed_hash = chain[sealed - 1].hash if sealed else GENESIS
    return Head(chain[-1].seq, chain[-1].hash, sealed, sealed_hash, mac, 1 if mac else None)


def test_linked_events_follow_the_head_each_hashing_the_one_before() -> None:
    events = linked(RECORDS, 41, "cd" * 32, AT)
    assert [e["seq"] for e in events] == [42, 43, 44]
    assert events[0]["prev_hash"] == "cd" * 32
    for before, event in itertools.pairwise(events):
        assert event["prev_hash"] == before["hash"]
    for event in events:
        assert event["hash"] == event_hash(event["prev_hash"], event)
        assert event["at"] == AT
    assert events[2]["details"] == '{"guarantees":["b","a"]}'  # sorted keys, lists kept


def test_nothing_to_link_is_no_events() -> None:
    assert linked([], 7, GENESIS, AT) == []


def test_the_seal_covers_the_seq_and_the_hash() -> None:
    message = seal_message(258, "ab" * 32)
    assert message == b"otp-audit-head\x00" + bytes(6) + b"\x01\x02" + b"\xab" * 32
    assert seal_message(259, "ab" * 32) != message
    assert seal_message(258, "ac" * 32) != message


def test_an_intact_chain_has_no_link_problem() -> None:
    prev = GENESIS
    for count, event in enumerate(_chain(), start=1):
        assert link_problem(event, count, prev, count) is None
        prev = event.hash


def test_a_missing_event_is_named() -> None:
    chain = _chain()
    report = link_problem(chain[2], 2, chain[0].hash, 2)
    assert report == AuditReport(False, 2, 2, "event 2 is missing")


def test_an_event_relinked_elsewhere_is_found() -> None:
    chain = _chain()
    report = link_problem(chain[1], 2, "ef" * 32, 2)
    assert report == AuditReport(False, 2, 2, "event 2 does not link to event 1")


@pytest.mark.parametrize("field", ["actor", "subject", "result", "details", "at"])
def test_an_edited_event_is_found(field: str) -> None:
    chain = _chain()
    edited = chain[1].model_copy(update={field: 12345.0 if field == "at" else "mallory"})
    report = link_problem(edited, 2, chain[0].hash, 2)
    assert report == AuditReport(False, 2, 2, "event 2 was altered")


def test_a_sealed_intact_chain_is_ok_once_the_hsm_owns_the_seal() -> None:
    chain = _chain()
    head = _head(chain, sealed=3)
    assert head_problem(head, 3, chain[-1].hash, chain[-1].hash, 3) is None
    assert sealed_report(head, 3, 3) == AuditReport(True, 3)
    assert forged_seal(head, 3) == AuditReport(
        False, 3, 3, "the head seal is not the HSM's: the head was rewritten"
    )


def test_events_after_the_seal_are_reported_unsealed() -> None:
    chain = _chain()
    head = _head(chain, sealed=1)
    assert head_problem(head, 3, chain[-1].hash, chain[0].hash, 3) is None
    report = sealed_report(head, 3, 3)
    assert (report.ok, report.first_bad_seq, report.unsealed) == (False, 2, 2)
    assert "the newest 2 events are not sealed by the HSM" in (report.problem or "")


def test_removed_newest_events_are_found() -> None:
    chain = _chain()
    head = _head(chain, sealed=3)
    report = head_problem(head, 2, chain[1].hash, None, 2)
    assert report == AuditReport(
        False, 2, 3, "events 3 to 3 are missing: the newest events were removed"
    )


def test_a_head_that_names_another_event_is_found() -> None:
    chain = _chain()
    head = _head(chain, sealed=2)._replace(seq=2, hash=chain[1].hash)
    report = head_problem(head, 3, chain[2].hash, chain[1].hash, 3)
    assert report == AuditReport(False, 3, 3, "the head names event 2, but the chain ends at 3")


def test_a_seal_over_another_chain_is_found() -> None:
    chain = _chain()
    head = _head(chain, sealed=2)
    report = head_problem(head, 3, chain[2].hash, "ef" * 32, 3)
    assert report == AuditReport(False, 3, 2, "the sealed head does not match event 2")


def test_a_seal_without_its_mac_is_missing() -> None:
    chain = _chain()
    head = _head(chain, sealed=3, mac=None)
    report = head_problem(head, 3, chain[2].hash, chain[2].hash, 3)
    assert report == AuditReport(False, 3, 3, "the head seal is missing")


def test_a_mac_on_a_chain_never_sealed_does_not_belong_to_it() -> None:
    chain = _chain()
    head = _head(chain, sealed=0)
    report = head_problem(head, 3, chain[2].hash, None, 3)
    assert report == AuditReport(False, 3, 1, "the head seal does not belong to this chain")
    assert head_problem(head._replace(mac=None), 3, chain[2].hash, None, 3) is None


def test_an_empty_chain_is_ok() -> None:
    head = Head(0, GENESIS, 0, GENESIS, None, None)
    assert head_problem(head, 0, GENESIS, None, 0) is None
    assert sealed_report(head, 0, 0) == AuditReport(True, 0)


def test_a_new_seal_covers_only_a_tail_this_process_wrote() -> None:
    ours = {4: "aa" * 32, 5: "bb" * 32}
    assert tail_is_ours([(4, "aa" * 32), (5, "bb" * 32)], ours)
    assert tail_is_ours([], {})
    assert not tail_is_ours([(4, "aa" * 32), (5, "cc" * 32)], ours)  # rewritten
    assert not tail_is_ours([(4, "aa" * 32), (6, "dd" * 32)], ours)  # someone else's


def test_an_officer_reseals_only_an_intact_chain_whose_newest_events_are_unsealed() -> None:
    chain = _chain()
    assert may_reseal(sealed_report(_head(chain, sealed=1), 3, 3))
    assert not may_reseal(AuditReport(True, 3))
    assert not may_reseal(AuditReport(False, 3, 2, "event 2 was altered"))
    assert not may_reseal(forged_seal(_head(chain, sealed=3), 3))


def test_the_chain_hash_is_sha256_over_the_previous_hash_and_sorted_compact_json() -> None:
    """The format every stored chain was written in, checked against the standard library
    (a faster encoder must not change a byte of it)."""
    event = {
        "seq": 7,
        "at": 1_700_000_000.25,
        "actor": "client:netbank",
        "action": "verify",
        "subject": "zoë",
        "purpose": "transfer",
        "result": "accepted",
        "reason": "accepted",
        "source": "",
        "details": canonical({"transaction": {"amount": 12.5, "to": "ES91 2100"}, "n": None}),
        "prev_hash": "ab" * 32,
    }
    text_form = json.dumps(
        {k: event[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert (
        event_hash("ab" * 32, event)
        == hashlib.sha256(bytes.fromhex("ab" * 32) + text_form.encode()).hexdigest()
    )
    assert event["details"] == '{"n":null,"transaction":{"amount":12.5,"to":"ES91 2100"}}'


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1.5, -0.0, 1e16, 2**70, None, True], "c": {"z": "ñ", "y": '\u2028\x00"'}},
        {"transaction": {"amount": "10.00", "iban": "ES91 2100"}, "credential": "c-1"},
        {},
        "plain string with \\ and \n",
        [3, "x", {"k": 1.25}],
        1764915600.123456,
    ],
)
def test_canonical_json_is_the_standard_librarys(value: object) -> None:
    """The chain hashes this text: it must never change, whatever makes it faster."""
    assert canonical(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
