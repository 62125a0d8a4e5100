"""The audit chain: OK when untouched; an edit, a deletion or a truncation is found."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.server.conftest import Bank


@pytest.fixture
def audited(bank: Bank) -> Bank:
    """A bank with a few dozen audit events of several kinds."""
    alice = bank.add_customer()
    for i in range(8):
        bank.verify(
            alice.username, alice.code(bank.clock()), "transfer", transaction={"amount": f"{i}.00"}
        )
        bank.verify("nobody", "000000")
        bank.clock.advance(60)
    return bank


def _report(bank: Bank):  # type: ignore[no-untyped-def]
    with bank.services.db.transaction() as session:
        return bank.services.audit.verify(session)


def _sql(bank: Bank, statement: str, **params: object) -> None:
    with bank.services.db.engine.begin() as connection:
        connection.execute(text(statement), params)


def test_untouched_chain_is_ok(audited: Bank) -> None:
    report = _report(audited)
    assert report.ok, report.problem
    assert report.events >= 17
    assert report.unsealed == 0


def test_edited_event_is_found(audited: Bank) -> None:
    _sql(audited, "UPDATE audit_events SET result = 'accepted' WHERE seq = 7")
    report = _report(audited)
    assert not report.ok
    assert (report.first_bad_seq, report.problem) == (7, "event 7 was altered")


def test_edited_details_are_found(audited: Bank) -> None:
    _sql(audited, "UPDATE audit_events SET details = replace(details, '3.00', '3000.00')")
    report = _report(audited)
    assert not report.ok
    assert "was altered" in (report.problem or "")


def test_deleted_event_in_the_middle_is_found(audited: Bank) -> None:
    _sql(audited, "DELETE FROM audit_events WHERE seq = 5")
    report = _report(audited)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 5, "event 5 is missing")


def test_deleted_and_relinked_event_is_found(audited: Bank) -> None:
    """Deleting an event and renumbering the rest still breaks the hashes."""
    _sql(audited, "DELETE FROM audit_events WHERE seq = 5")
    _sql(audited, "UPDATE audit_events SET seq = seq - 1 WHERE seq > 5")
    report = _report(audited)
    assert not report.ok
    assert report.first_bad_seq == 5


def test_truncated_newest_events_are_found(audited: Bank) -> None:
    newest = _report(audited).events
    _sql(audited, "DELETE FROM audit_events WHERE seq > :keep", keep=newest - 3)
    report = _report(audited)
    assert not report.ok
    assert report.first_bad_seq == newest - 2
    assert "the newest events were removed" in (report.problem or "")


def test_truncation_with_a_rewritten_head_is_found(audited: Bank) -> None:
    newest = _report(audited).events
    keep = newest - 3
    with audited.services.db.engine.begin() as connection:
        last_hash = connection.execute(
            text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": keep}
        ).scalar()
        connection.execute(text("DELETE FROM audit_events WHERE seq > :keep"), {"keep": keep})
        connection.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h, sealed_seq = :s, sealed_hash = :h"),
            {"s": keep, "h": last_hash},
        )
    report = _report(audited)
    assert not report.ok
    assert "head seal is not the HSM's" in (report.problem or "")
