"""A single bad request never fails its batch-mates (issue 21), on PostgreSQL, which refuses
what SQLite stores without a word (a NUL character, a value longer than its column).

The verify API refuses such input at the edge; these tests send it past the edge, to the
batcher, as a bug or a future field could: the requests that came with it are still
decided, and only the bad one fails.
"""

from __future__ import annotations

import asyncio
import base64
import secrets

import pyotp
import pytest

from server.domain.credentials.rules import SeedImport
from server.domain.verification.batching import VerifyBatcher
from server.domain.verification.rules import Outcome, Result, VerifyRequest
from server.services import Services

pytestmark = pytest.mark.slow  # PostgreSQL: `make test` runs it, a plain `pytest` not


def _customer(services: Services, name: str) -> pyotp.TOTP:
    seed = secrets.token_bytes(20)
    with services.db.transaction() as session:
        customer = services.customers.add(session, name, f"{name}@example.com", "a pass 1")
        services.credentials.import_seed(session, customer, SeedImport(seed=seed), "test")
    return pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)


async def _together(
    batcher: VerifyBatcher, requests: list[VerifyRequest]
) -> list[Outcome | BaseException]:
    """`requests` sent at once: they are decided in one batch."""
    return await asyncio.gather(*(batcher.verify(r) for r in requests), return_exceptions=True)


@pytest.mark.parametrize(
    "poison",
    [
        VerifyRequest("ana\x00", "123456", "login", "rp"),  # read in the batch's first stage
        VerifyRequest("ana", "123456", "login", "rp", source="10.0.0.1\x00"),  # its second
    ],
    ids=["nul-in-username", "nul-in-source"],
)
def test_a_request_the_database_refuses_fails_alone(
    postgres_services: Services, poison: VerifyRequest
) -> None:
    ana, ben = _customer(postgres_services, "ana"), _customer(postgres_services, "ben")
    wrong = "000000" if ben.now() != "000000" else "111111"
    batcher = VerifyBatcher(postgres_services.verification)
    try:
        answers = asyncio.run(
            _together(
                batcher,
                [
                    VerifyRequest("ana", ana.now(), "login", "rp"),
                    poison,
                    VerifyRequest("ben", wrong, "login", "rp", source="10.0.0.2"),
                ],
            )
        )
    finally:
        batcher.close()
    good, bad, refused = answers
    assert isinstance(good, Outcome) and good.result is Result.ACCEPTED, answers
    assert isinstance(refused, Outcome) and refused.result is Result.REJECTED, answers
    assert isinstance(bad, Exception), answers
    with postgres_services.db.transaction() as session:
        report = postgres_services.audit.verify(session)
    assert report.ok, report.problem


def test_a_long_source_of_a_long_named_client_is_counted(postgres_services: Services) -> None:
    """A client's name (up to 100 characters) and a source (up to 100) make a longer key
    than the counters' column holds: it must still be counted, not fail the batch. (Unknown
    usernames, each with its own guessing budget: only the source's limit stops them.)"""
    client, source = "c" * 100, "s" * 100
    verification = postgres_services.verification
    for i in range(verification._limit.limit):
        request = VerifyRequest(f"nobody{i}", "123456", "login", client, source=source)
        assert verification.verify(request).result is Result.REJECTED
    request = VerifyRequest("nobody", "123456", "login", client, source=source)
    assert verification.verify(request).result is Result.RATE_LIMITED
    other = VerifyRequest("nobody", "123456", "login", client, source=source[:-1] + "t")
    assert verification.verify(other).result is Result.REJECTED  # its own count


def test_a_name_that_grows_when_lowercased_is_an_unknown_user(postgres_services: Services) -> None:
    """'İ' lowercases to two characters: 150 of them make a name longer than any stored one
    and than the budgets' key column. It is a username nobody has, answered like one."""
    outcome = postgres_services.verification.verify(
        VerifyRequest("İ" * 150, "123456", "login", "rp")
    )
    assert (outcome.result, outcome.reason) == (Result.REJECTED, "unknown_user")
