"""Verify batches take their row locks in one global order, so two batches that touch the
same rows in opposite orders wait for each other instead of deadlocking (issue 21).

Each test commits two prepared batches at once, on PostgreSQL, from two threads. After its
first request is applied, each thread waits (a little) for the other to apply its first:
without a global order the two then need each other's rows and PostgreSQL kills one
transaction as a deadlock (40P01). The retry would still answer every request, so the test
counts transactions: two batches must take exactly two.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from sqlalchemy import text

from server.domain.credentials.rules import SeedImport
from server.domain.verification import store
from server.domain.verification.rules import Outcome, Result, VerifyRequest
from server.domain.verification.service import VerificationService
from server.services import Services

pytestmark = pytest.mark.slow  # PostgreSQL: `make test` runs it, a plain `pytest` not


def _customers(services: Services, names: list[str]) -> dict[str, pyotp.TOTP]:
    made = {}
    with services.db.transaction() as session:
        for name in names:
            seed = secrets.token_bytes(20)
            customer = services.customers.add(session, name, f"{name}@example.com", "a pass 1")
            services.credentials.import_seed(session, customer, SeedImport(seed=seed), "test")
            made[name] = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)
    return made


def _wrong(totp: pyotp.TOTP) -> str:
    return "000000" if totp.now() != "000000" else "111111"


def _interleaved(
    verification: VerificationService,
    batches: list[list[VerifyRequest]],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[list[Outcome]], int]:
    """Commit `batches` from one thread each, both at once, each pausing after its first
    request until the other has applied its first (or 3 s, if the other is waiting for a
    lock). Returns the outcomes and the number of transactions the commits ran."""
    prepared = [verification.prepare(batch) for batch in batches]
    met = threading.Barrier(len(batches))
    applied = threading.local()
    attempts: list[int] = []
    apply: Callable[..., Outcome] = verification._apply
    commit_once: Callable[..., list[Outcome]] = verification._commit_once

    def paused_apply(*args: Any) -> Outcome:
        outcome = apply(*args)
        if not getattr(applied, "once", False):
            applied.once = True
            try:
                met.wait(timeout=3)
            except threading.BrokenBarrierError:
                pass  # the other batch waits for our locks: the order held
        return outcome

    def counted(*args: Any) -> list[Outcome]:
        attempts.append(1)
        applied.once = False
        return commit_once(*args)

    monkeypatch.setattr(verification, "_apply", paused_apply)
    monkeypatch.setattr(verification, "_commit_once", counted)
    outcomes: list[list[Outcome]] = [[] for _ in batches]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            outcomes[i] = verification.commit(prepared[i])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return outcomes, len(attempts)


def test_acceptances_in_opposite_orders_do_not_deadlock(
    postgres_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    totp = _customers(postgres_services, ["ana", "ben"])
    ana, ben = (VerifyRequest(n, totp[n].now(), "login", "rp") for n in ("ana", "ben"))
    outcomes, transactions = _interleaved(
        postgres_services.verification, [[ana, ben], [ben, ana]], monkeypatch
    )
    assert transactions == 2
    results = [o.result for batch in outcomes for o in batch]
    assert results.count(Result.ACCEPTED) == 2  # each code once, whichever batch got it


def test_wrong_guesses_in_opposite_orders_do_not_deadlock(
    postgres_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    totp = _customers(postgres_services, ["ana", "ben"])
    ana, ben = (VerifyRequest(n, _wrong(totp[n]), "login", "rp") for n in ("ana", "ben"))
    outcomes, transactions = _interleaved(
        postgres_services.verification, [[ana, ben], [ben, ana]], monkeypatch
    )
    assert transactions == 2
    assert {o.result for batch in outcomes for o in batch} == {Result.REJECTED}


def test_failures_of_one_source_in_opposite_orders_do_not_deadlock(
    postgres_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four customers, so no guessing budget is shared: only the sources' failure counters
    are, touched in opposite orders."""
    totp = _customers(postgres_services, ["ana", "ben", "cas", "dan"])

    def wrong(name: str, source: str) -> VerifyRequest:
        return VerifyRequest(name, _wrong(totp[name]), "login", "rp", source=source)

    first = [wrong("ana", "10.0.0.1"), wrong("ben", "10.0.0.2")]
    second = [wrong("cas", "10.0.0.2"), wrong("dan", "10.0.0.1")]
    outcomes, transactions = _interleaved(
        postgres_services.verification, [first, second], monkeypatch
    )
    assert transactions == 2
    assert {o.result for batch in outcomes for o in batch} == {Result.REJECTED}
    with postgres_services.db.engine.connect() as connection:
        counts = postgres_services.verification._limit.counts(
            connection, ["rp|10.0.0.1", "rp|10.0.0.2"], postgres_services.verification._clock()
        )
    assert counts == {"rp|10.0.0.1": 2, "rp|10.0.0.2": 2}  # every failure counted once


def test_pruning_skips_the_rows_a_batch_holds_instead_of_waiting(
    postgres_services: Services,
) -> None:
    """The hourly prune deletes old buckets and signatures outside the lock order: it must
    never wait for a row a batch holds (which is in use, so not old) while holding others."""
    services = postgres_services
    engine = services.db.engine
    with services.db.transaction() as session:
        customer = services.customers.add(session, "pruned", "p@example.com", "a password 1")
        credential = services.credentials.import_seed(
            session, customer, SeedImport(seed=secrets.token_bytes(20)), "test"
        )
        credential_id = credential.id
    with engine.begin() as connection:
        for key in ("u:held:anonymous", "u:free:anonymous"):
            connection.execute(
                text("INSERT INTO guess_budgets (key, tokens, updated_at) VALUES (:k, 1, 0)"),
                {"k": key},
            )
        for question in ("held", "free"):
            connection.execute(
                text("INSERT INTO signature_uses VALUES (:c, 1, :q, 0)"),
                {"c": credential_id, "q": question},
            )
    holder = engine.connect()
    held = holder.begin()
    holder.execute(text("SELECT 1 FROM guess_budgets WHERE key = 'u:held:anonymous' FOR UPDATE"))
    holder.execute(text("SELECT 1 FROM signature_uses WHERE question = 'held' FOR UPDATE"))
    try:
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail
            store.prune_budgets(connection, 1000.0)
            store.prune_signatures(connection, 1000.0)
    finally:
        held.rollback()
        holder.close()
    with engine.connect() as connection:
        buckets = set(connection.execute(text("SELECT key FROM guess_budgets")).scalars())
        questions = set(connection.execute(text("SELECT question FROM signature_uses")).scalars())
    assert (buckets, questions) == ({"u:held:anonymous"}, {"held"})
