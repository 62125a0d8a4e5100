"""Group commit: requests decided together behave as if they came one after the other."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from server.db.models import AuditEvent, GuessBudgets
from server.domain.verification.batching import VerifyBatcher
from server.domain.verification.rules import Outcome, Result, VerifyRequest, guess_budget
from server.domain.verification.service import Prepared
from tests.server.conftest import Bank, JsonLines


def _request(bank: Bank, username: str, code: str, source: str = "") -> VerifyRequest:
    bank.secrets_used.add(code)
    return VerifyRequest(username, code, "login", "netbank", source=source)


def _audit_rows(bank: Bank) -> int:
    with Session(bank.services.db.engine) as session:
        return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def _verifications(bank: Bank) -> Counter[str]:
    """The metrics' count of login decisions, by result."""
    counts: Counter[str] = Counter()
    for metric in bank.services.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "otp_verifications_total" and sample.labels["purpose"] == "login":
                counts[sample.labels["result"]] += int(sample.value)
    return counts


def test_one_batch_decides_many_customers_with_one_seal(bank: Bank) -> None:
    people = [bank.add_customer() for _ in range(8)]
    now = bank.clock()
    before = _audit_rows(bank)
    counted = _verifications(bank)
    requests = [_request(bank, p.username, p.code(now)) for p in people]
    requests.append(_request(bank, "nobody-at-all", "123456"))
    requests.append(_request(bank, people[0].username, "000000"))  # a wrong code after a good one
    outcomes = bank.services.verification.verify_many(requests)
    assert [o.result for o in outcomes] == [Result.ACCEPTED] * 8 + [Result.REJECTED] * 2
    assert [o.reason for o in outcomes[-2:]] == ["unknown_user", "wrong_code"]
    assert _audit_rows(bank) == before + 10
    assert _verifications(bank) - counted == {"accepted": 8, "rejected": 2}
    with Session(bank.services.db.engine) as session:
        report = bank.services.audit.verify(session)
    assert report.ok, report.problem


def test_an_empty_batch_decides_nothing_and_writes_nothing(bank: Bank) -> None:
    before = _audit_rows(bank)
    assert bank.services.verification.verify_many([]) == []
    assert _audit_rows(bank) == before


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
    """Five wrong codes spend the budget; the good code after them in the same batch is
    refused as locked, and the refusals after that are not counted again."""
    alice = bank.add_customer()
    good = alice.code(bank.clock())
    wrong = "000000" if good != "000000" else "111111"
    requests = [_request(bank, alice.username, wrong) for _ in range(6)]
    requests.append(_request(bank, alice.username, good))
    outcomes = bank.services.verification.verify_many(requests)
    assert [o.result for o in outcomes] == [Result.REJECTED] * 4 + [Result.LOCKED] * 3
    assert outcomes[4].reason == "wrong_code_locked"
    assert [o.reason for o in outcomes[5:]] == ["locked", "locked"]
    assert all(o.retry_after == _one_guess(bank) for o in outcomes[4:])
    assert _tokens(bank, f"c{bank.credential(alice.credential_id).id}:anonymous") == 0


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
    real = bank.services.verification.commit
    calls = 0

    def failing_once(prepared: Prepared) -> list[Outcome]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("UPDATE", {}, Exception("disk I/O error"))
        return real(prepared)

    batcher._service.commit = failing_once  # type: ignore[method-assign]
    code = alice.code(bank.clock())
    try:
        with pytest.raises(OperationalError):
            asyncio.run(batcher.verify(_request(bank, alice.username, code)))
        # a new event loop (as a new test client would make) is served as well
        outcome = asyncio.run(batcher.verify(_request(bank, alice.username, code)))
    finally:
        del batcher._service.commit
        batcher.close()
    assert outcome.result is Result.ACCEPTED  # nothing of the failed batch was written


class _Deadlock(Exception):
    """A driver's error, as psycopg raises them: with its SQLSTATE."""

    sqlstate = "40P01"


@pytest.mark.parametrize("stage", ["prepare", "commit"])
def test_the_api_answers_503_when_the_database_fails(
    bank: Bank, stage: str, json_logs: JsonLines
) -> None:
    alice = bank.add_customer()
    service = bank.services.verification
    first_line = len(json_logs.lines)

    def broken(*_: object) -> list[Outcome]:
        raise OperationalError("SELECT", {}, _Deadlock("deadlock detected"))

    setattr(service, stage, broken)
    try:
        response = bank.client.post(
            "/api/v1/verify",
            headers=bank.headers(),
            json={"username": alice.username, "code": "123456", "purpose": "login"},
        )
    finally:
        delattr(service, stage)
    assert response.status_code == 503
    assert response.json()["result"] == "unavailable"
    assert response.headers["retry-after"] == str(response.json()["retry_after"]) == "1"
    failed = [json.loads(line) for line in json_logs.lines[first_line:] if "batch_failed" in line]
    assert [(f["error"], f["sqlstate"], f["size"]) for f in failed] == [
        ("OperationalError", "40P01", 1)
    ]
    status, body = bank.verify(alice.username, alice.code(bank.clock()))
    assert (status, body["result"]) == (200, "accepted")  # the failed batch wrote nothing


# -- the pipeline: batch k+1 is prepared before batch k commits ------------------------------


def test_a_batch_prepared_before_a_lock_out_was_committed_still_meets_it(bank: Bank) -> None:
    """The good code was prepared while the credential was open; the lock-out committed
    before it holds, and the refusal is not counted as a failure again."""
    service = bank.services.verification
    alice = bank.add_customer()
    good = alice.code(bank.clock())
    wrong = "000000" if good != "000000" else "111111"
    guesses = service.prepare([_request(bank, alice.username, wrong) for _ in range(5)])
    late = service.prepare([_request(bank, alice.username, good)])
    assert guesses.checks[0].outcome is not None
    assert [o.result for o in service.commit(guesses)][-1] is Result.LOCKED
    [outcome] = service.commit(late)
    assert (outcome.result, outcome.reason) == (Result.LOCKED, "locked")
    assert outcome.retry_after == _one_guess(bank)
    credential = bank.credential(alice.credential_id)
    assert _tokens(bank, f"c{credential.id}:anonymous") == 0  # the refusal spent nothing
    assert credential.last_step < bank.clock() // 60 - 2  # the good code was not taken


def test_an_unknown_name_locked_while_a_batch_was_prepared_stays_locked(bank: Bank) -> None:
    service = bank.services.verification
    guesses = service.prepare([_request(bank, "ghost", "123456") for _ in range(5)])
    late = service.prepare([_request(bank, "ghost", "123456")])
    assert [o.result for o in service.commit(guesses)][-1] is Result.LOCKED
    [outcome] = service.commit(late)
    assert (outcome.result, outcome.reason) == (Result.LOCKED, "locked")
    assert outcome.retry_after == _one_guess(bank)
    # one guess comes back after the wait: it is checked, and it is the last one again
    bank.clock.advance(_one_guess(bank))
    outcomes = service.verify_many([_request(bank, "ghost", "123456") for _ in range(2)])
    assert [(o.result, o.reason) for o in outcomes] == [
        (Result.LOCKED, "unknown_user_locked"),
        (Result.LOCKED, "locked"),
    ]


def test_a_code_prepared_twice_in_a_row_is_accepted_once(bank: Bank) -> None:
    service = bank.services.verification
    alice = bank.add_customer()
    code = alice.code(bank.clock())
    first = service.prepare([_request(bank, alice.username, code)])
    second = service.prepare([_request(bank, alice.username, code)])
    assert [o.result for o in service.commit(first)] == [Result.ACCEPTED]
    [outcome] = service.commit(second)
    assert (outcome.result, outcome.reason) == (Result.REJECTED, "replay")


@pytest.mark.settings(source_failure_limit=3)
def test_the_source_limit_counts_the_failures_of_the_batch_committed_meanwhile(
    bank: Bank,
) -> None:
    service = bank.services.verification
    people = [bank.add_customer() for _ in range(4)]
    guesses = service.prepare(
        [_request(bank, p.username, "999999", source="203.0.113.9") for p in people[:3]]
    )
    late = service.prepare(
        [_request(bank, people[3].username, people[3].code(bank.clock()), source="203.0.113.9")]
    )
    assert [o.result for o in service.commit(guesses)] == [Result.REJECTED] * 3
    [outcome] = service.commit(late)
    assert outcome.result is Result.RATE_LIMITED  # even a good code, as one at a time would


def test_the_next_batch_is_prepared_while_the_one_before_commits(bank: Bank) -> None:
    """The first batch's commit waits until the second batch is being prepared: with the
    stages one after the other this would never happen (and the wait would time out)."""
    people = [bank.add_customer() for _ in range(2)]
    now = bank.clock()
    service = bank.services.verification
    batcher = VerifyBatcher(service, max_batch=1)
    second_prepared = threading.Event()
    real_prepare, real_commit = service.prepare, service.commit
    overlapped: list[bool] = []

    def prepare(requests: list[VerifyRequest]) -> Prepared:
        if requests[0].username == people[1].username:
            second_prepared.set()
        return real_prepare(requests)

    def commit(prepared: Prepared) -> list[Outcome]:
        if prepared.checks[0].username == people[0].username:
            overlapped.append(second_prepared.wait(timeout=10))
        return real_commit(prepared)

    service.prepare, service.commit = prepare, commit  # type: ignore[method-assign]

    async def run() -> list[Outcome]:
        return await asyncio.gather(
            *(batcher.verify(_request(bank, p.username, p.code(now))) for p in people)
        )

    try:
        outcomes = asyncio.run(run())
    finally:
        del service.prepare, service.commit
        batcher.close()
    assert overlapped == [True]
    assert [o.result for o in outcomes] == [Result.ACCEPTED] * 2
    assert batcher.batches == 2


def _one_guess(bank: Bank) -> int:
    """The wait, in whole seconds, for a spent 6-digit TOTP budget to give a guess back."""
    return math.ceil(1 / guess_budget("totp", 6, bank.services.verification.policy).per_second)


def _tokens(bank: Bank, key: str) -> float:
    with bank.services.db.transaction() as session:
        row = session.get(GuessBudgets, key)
    assert row is not None, key
    return row.tokens
