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
    _sql(audited, "UPDATE audit_events SET result = 'altered' WHERE seq = 7")
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


def _strip_seal_and_rewrite_from(bank: Bank, seq: int) -> None:
    """What someone with write access to the database, but not the HSM key, can do: edit
    an event, recompute every hash after it, and remove the seal (claiming an outage)."""
    from sqlmodel import select

    from server.db.models import AuditEvent
    from server.domain.audit.rules import GENESIS, event_hash

    with bank.services.db.transaction() as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
        prev = GENESIS
        for event in events:
            if event.seq == seq:
                event.result = "accepted"
            event.prev_hash = prev
            event.hash = event_hash(prev, event)
            prev = event.hash
            session.add(event)
        session.connection().execute(
            text(
                "UPDATE audit_head SET hash = :h, sealed_seq = 0, sealed_hash = :g, "
                "mac = NULL, key_version = NULL"
            ),
            {"h": prev, "g": GENESIS},
        )


def test_a_removed_seal_is_reported_and_new_events_do_not_cover_it(audited: Bank) -> None:
    _strip_seal_and_rewrite_from(audited, 7)
    report = _report(audited)
    assert not report.ok
    assert "not sealed by the HSM" in (report.problem or "")
    # the server keeps working, but will not put its seal over a chain it cannot vouch for
    alice = audited.add_customer()
    assert audited.verify(alice.username, alice.code(audited.clock()))[0] == 200
    report = _report(audited)
    assert not report.ok
    assert report.unsealed >= 1


def test_officer_reseals_after_review(audited: Bank) -> None:
    _strip_seal_and_rewrite_from(audited, 7)
    with audited.services.db.engine.begin() as connection:
        audited.services.audit.reseal(connection, "officer:test")
    report = _report(audited)
    assert report.ok, report.problem
    with audited.services.db.transaction() as session:
        from sqlmodel import select

        from server.db.models import AuditEvent

        assert (
            session.exec(select(AuditEvent).where(AuditEvent.action == "audit.resealed"))
            .one()
            .actor
            == "officer:test"
        )


def test_reseal_refuses_a_chain_with_a_broken_link(audited: Bank) -> None:
    _sql(audited, "UPDATE audit_events SET subject = 'mallory' WHERE seq = 4")
    with audited.services.db.engine.begin() as connection:
        report = audited.services.audit.reseal(connection, "officer:test")
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert not _report(audited).ok
