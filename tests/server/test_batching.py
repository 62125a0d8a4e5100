"""Group commit: requests decided together behave as if they came one after the other."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from server.db.models import AuditEvent
from server.domain.verification.batching import VerifyBatcher
from server.domain.verification.services import Outcome, Result, VerifyRequest
from tests.server.conftest import Bank


def _request(bank: Bank, username: str, code: str, source: str = "") -> VerifyRequest:
    bank.secrets_used.add(code)
    return VerifyRequest(username, code, "login", "netbank", source=source)


def _audit_rows(bank: Bank) -> int:
    with Session(bank.services.db.engine) as session:
        return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def test_one_batch_decides_many_customers_with_one_seal(bank: Bank) -> None:
    people = [bank.add_customer() for _ in range(8)]
    now = bank.clock()
    before = _audit_rows(bank)
    requests = [_request(bank, p.username, p.code(now)) for p in people]
    requests.append(_request(bank, "nobody-at-all", "123456"))
    requests.append(_request(bank, people[0].username, "000000"))  # a wrong code after a good one
    outcomes = bank.services.verification.verify_many(requests)
    assert [o.result for o in outcomes] == [Result.ACCEPTED] * 8 + [Result.REJECTED] * 2
    assert [o.reason for o in outcomes[-2:]] == ["unknown_user", "wrong_code"]
    assert _audit_rows(bank) == before + 10
    with Session(bank.services.db.engine) as session:
        report = bank.services.audit.verify(session)
    assert report.ok, report.problem


def test_the_same_code_twice_in_a_batch_counts_once(bank: Bank) -> None:
    alice = bank.add_customer()
    code = alice.code(bank.clock())
    outcomes = bank.services.verification.verify_many(
        [_request(bank, alice.username, code) for _ in range(5)]
    )
    assert Counter(o.result for o in outcomes) == {Result.ACCEPTED: 1, Result.REJECTED: 4}
    assert outcomes[0].result is Result.ACCEPTED
    assert {o.reason for o in outcomes[1:]} == {"replay"}


def test_a_lock_out_written_in_a_batch_holds_for_the_rest_of_it(bank: Bank) -> None:
    """Five wrong codes lock the credential; the good code after them in the same batch is
    refused as locked, and the refusals after the lock are not counted again."""
    alice = bank.add_customer()
    good = alice.code(bank.clock())
    wrong = "000000" if good != "000000" else "111111"
    requests = [_request(bank, alice.username, wrong) for _ in range(6)]
    requests.append(_request(bank, alice.username, good))
    outcomes = bank.services.verification.verify_many(requests)
    assert [o.result for o in outcomes] == [Result.REJECTED] * 4 + [Result.LOCKED] * 3
    assert outcomes[4].reason == "wrong_code_locked"
    assert [o.reason for o in outcomes[5:]] == ["locked", "locked"]
    assert all(o.retry_after == 60 for o in outcomes[4:])
    credential = bank.credential(alice.credential_id)
    assert (credential.failure_count, credential.lockouts) == (0, 1)


@pytest.mark.settings(source_failure_limit=3)
def test_the_source_limit_counts_the_failures_earlier_in_the_batch(bank: Bank) -> None:
    people = [bank.add_customer() for _ in range(5)]
    requests = [_request(bank, p.username, "999999", source="198.51.100.7") for p in people]
    requests.append(_request(bank, people[0].username, "999999", source="198.51.100.8"))
    outcomes = bank.services.verification.verify_many(requests)
    assert [o.result for o in outcomes] == [Result.REJECTED] * 3 + [Result.RATE_LIMITED] * 2 + [
        Result.REJECTED
    ]
    assert all(o.retry_after for o in outcomes[3:5])


def test_concurrent_requests_share_batches_and_each_gets_its_own_answer(bank: Bank) -> None:
    people = [bank.add_customer() for _ in range(30)]
    now = bank.clock()
    batcher = VerifyBatcher(bank.services.verification, max_batch=8)

    async def run() -> list[Outcome]:
        return await asyncio.gather(
            *(
                batcher.verify(_request(bank, p.username, p.code(now) if i % 3 else "000000"))
                for i, p in enumerate(people)
            )
        )

    try:
        outcomes = asyncio.run(run())
    finally:
        batcher.close()
    expected = [Result.REJECTED if i % 3 == 0 else Result.ACCEPTED for i in range(30)]
    assert [o.result for o in outcomes] == expected
    # all 30 were waiting before the first batch started: 8 + 8 + 8 + 6
    assert batcher.batches == 4


def test_a_failed_batch_fails_each_of_its_requests_and_the_next_batch_works(bank: Bank) -> None:
    alice = bank.add_customer()
    batcher = VerifyBatcher(bank.services.verification)
    real = bank.services.verification.verify_many
    calls = 0

    def failing_once(requests: list[VerifyRequest]) -> list[Outcome]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("UPDATE", {}, Exception("disk I/O error"))
        return real(requests)

    batcher._service.verify_many = failing_once  # type: ignore[method-assign]
    code = alice.code(bank.clock())
    try:
        with pytest.raises(OperationalError):
            asyncio.run(batcher.verify(_request(bank, alice.username, code)))
        # a new event loop (as a new test client would make) is served as well
        outcome = asyncio.run(batcher.verify(_request(bank, alice.username, code)))
    finally:
        del batcher._service.verify_many
        batcher.close()
    assert outcome.result is Result.ACCEPTED  # nothing of the failed batch was written


def test_the_api_answers_503_when_the_database_fails(bank: Bank) -> None:
    alice = bank.add_customer()
    service = bank.services.verification

    def broken(requests: list[VerifyRequest]) -> list[Outcome]:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    service.verify_many = broken  # type: ignore[method-assign]
    try:
        status, body = bank.verify(alice.username, alice.code(bank.clock()))
    finally:
        del service.verify_many
    assert status == 503
    assert body["result"] == "unavailable"
