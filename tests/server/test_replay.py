"""A code is accepted at most once, even when 50 requests race, in one or two processes."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pyotp
import pytest

from hsm import Algorithm, Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.domain.credentials.rules import SeedImport
from server.domain.verification.purposes import Purpose
from server.domain.verification.transfers import SUITE
from server.services import Services
from server.settings import Settings
from tests.conftest import SoftHsmTokens
from tests.oracles import oath_ocra
from tests.server.conftest import fast_settings, make_client_key
from tests.server.processes import PostgresCluster, complaints, server_env, server_process

RACERS = 50


def _seed_customer(services: Services) -> tuple[str, pyotp.TOTP]:
    seed = secrets.token_bytes(20)
    username = f"racer{secrets.token_hex(3)}"
    with services.db.transaction() as session:
        customer = services.customers.add(
            session, username, f"{username}@example.com", "a password 123"
        )
        services.credentials.import_seed(session, customer, SeedImport(seed=seed), "test")
    return username, pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)


def bank_with_customers(url: str, hsm: Hsm, count: int) -> tuple[str, list[tuple[str, pyotp.TOTP]]]:
    """Migrate `url`, add a client and `count` customers with a TOTP credential each;
    returns (api key, [(username, totp)])."""
    upgrade(url)
    services: Services = create_app(fast_settings(url), hsm=hsm).state.services
    key = make_client_key(services, f"rp-{secrets.token_hex(3)}", [Purpose.LOGIN])
    made = [_seed_customer(services) for _ in range(count)]
    services.db.dispose()
    return key, made


def _prepare(url: str, hsm: Hsm) -> tuple[str, str, pyotp.TOTP]:
    """Migrate `url`, add a client and a customer; returns (api key, username, totp)."""
    key, [(username, totp)] = bank_with_customers(url, hsm, 1)
    return key, username, totp


async def _race(
    bases: list[str], key: str, username: str, code: str, body: dict[str, object] | None = None
) -> Counter[str]:
    """`RACERS` requests at once for `code` (or with `body`: a signed transfer's fields)."""
    limits = httpx.Limits(max_connections=RACERS)
    sent = body or {"code": code, "purpose": "login"}
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(i: int) -> str:
            response = await client.post(
                f"{bases[i % len(bases)]}/api/v1/verify",
                headers={"Authorization": f"Bearer {key}"},
                json={"username": username, **sent, "source": f"10.0.0.{i}"},
            )
            return str(response.json()["result"])

        return Counter(await asyncio.gather(*(one(i) for i in range(RACERS))))


def _exactly_one_accepted(results: Counter[str], bases: list[str]) -> None:
    """One acceptance; every other answer refuses (replays count as failures and lock)."""
    told = {base: complaints(base) for base in bases}  # why, if it went wrong
    assert results["accepted"] == 1, (results, told)
    assert results["rejected"] + results["locked"] == RACERS - 1, (results, told)
    assert results["rejected"] >= 4, (results, told)  # the lock only comes after failures


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> Iterator[str]:
    yield postgres.create_database(f"otp_{secrets.token_hex(4)}")


@pytest.mark.slow
def test_fifty_concurrent_requests_one_process_sqlite(
    hsm: Hsm, tokens: SoftHsmTokens, database_url: str
) -> None:
    key, username, totp = _prepare(database_url, hsm)
    with server_process(server_env(tokens, database_url)) as base:
        results = asyncio.run(_race([base], key, username, totp.now()))
        metrics = httpx.get(f"{base}/metrics").text
        _exactly_one_accepted(results, [base])
    # every request went through the group commit, several in one transaction
    batched = float(re.search(r"otp_verify_batch_size_sum (\S+)", metrics).group(1))  # type: ignore[union-attr]
    batches = float(re.search(r"otp_verify_batch_size_count (\S+)", metrics).group(1))  # type: ignore[union-attr]
    assert batched == RACERS
    assert batches < RACERS


@pytest.mark.slow
def test_fifty_concurrent_requests_two_processes_postgres(
    hsm: Hsm, tokens: SoftHsmTokens, pg_url: str
) -> None:
    key, username, totp = _prepare(pg_url, hsm)
    env = server_env(tokens, pg_url)
    with server_process(env) as first, server_process(env) as second:
        # ready one after the other, as a load balancer would have them: two SoftHSM
        # processes logging in at once may not see the token at first (hsm.connection)
        for base in (first, second):
            assert httpx.get(f"{base}/health/ready").status_code == 200
        results = asyncio.run(_race([first, second], key, username, totp.now()))
        _exactly_one_accepted(results, [first, second])
        # both processes really served: the audit has decisions from each
        ready = [httpx.get(f"{b}/health/ready").json() for b in (first, second)]
        assert all(r["database"]["dialect"] == "postgresql" for r in ready)

    # the chain written by two processes at once is intact
    services: Services = create_app(Settings(database_url=pg_url), hsm=hsm).state.services
    with services.db.transaction() as session:
        report = services.audit.verify(session)
    services.db.dispose()
    assert report.ok, report.problem
    assert report.events >= RACERS


@pytest.mark.slow
def test_fifty_concurrent_signatures_two_processes_postgres(
    hsm: Hsm, tokens: SoftHsmTokens, pg_url: str
) -> None:
    """A transfer's response relayed fifty times to two servers: one approval."""
    upgrade(pg_url)
    services: Services = create_app(fast_settings(pg_url), hsm=hsm).state.services
    key = make_client_key(services, "netbank", [Purpose.TRANSFER])
    username, _ = _seed_customer(services)
    seed = secrets.token_bytes(32)
    stored = hsm.import_seed(seed, Algorithm.SHA256)
    with services.db.transaction() as session:
        credential = services.credentials.list(session, username)[0][0]
        credential.ocra_suite = SUITE
        credential.ocra_wrapped_seed = stored.blob
        credential.ocra_seed_length = stored.length
        session.add(credential)
    services.db.dispose()
    env = server_env(tokens, pg_url)
    with server_process(env) as first, server_process(env) as second:
        for base in (first, second):
            assert httpx.get(f"{base}/health/ready").status_code == 200
        response = oath_ocra(
            SUITE, seed, "000000001500" + "00054321", time_step=int(time.time() // 60)
        )
        body = {
            "purpose": "transfer",
            "response": response,
            "transaction": {"amount": "15.00", "currency": "EUR", "payee": "00054321"},
        }
        results = asyncio.run(_race([first, second], key, username, "", body))
        _exactly_one_accepted(results, [first, second])
