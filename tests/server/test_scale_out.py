"""The replay storm at scale (issue 21): N = 3 and 4 server processes on one PostgreSQL and
one SoftHSM token, straight and through a real load balancer (HAProxy).

Each round, 20 customers each have a fresh valid code, and each code is fired 30 times at
once, spread over the servers: 600 requests a round, 5 rounds, straight to the servers and
through the balancer in turns. Every code must be accepted
exactly once, every other answer must be a refusal, no answer may be `unavailable` while
the database and the HSM are healthy (before the global lock order, 35-62 % of the answers
were, from deadlocks), and the audit chain the processes wrote together must verify.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pyotp
import pytest

from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.services import Services
from tests.conftest import SoftHsmTokens
from tests.server.balancer import haproxy
from tests.server.conftest import fast_settings
from tests.server.processes import (
    PostgresCluster,
    complaints,
    ready_server,
    server_env,
    server_process,
)
from tests.server.test_replay import bank_with_customers

pytestmark = pytest.mark.slow  # processes and a balancer: `make test` runs it, a plain `pytest` not

CUSTOMERS = 20
FIRES = 30
ROUNDS = 5


async def _storm(
    bases: list[str], key: str, customers: list[tuple[str, pyotp.TOTP]]
) -> dict[str, Counter[str]]:
    """Each customer's current code FIRES times at once, spread over `bases`; each
    customer's answers by result."""
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int, username: str, code: str) -> tuple[str, str]:
            answer = await client.post(
                f"{bases[i % len(bases)]}/api/v1/verify",
                headers={"Authorization": f"Bearer {key}"},
                json={"username": username, "code": code, "purpose": "login"},
            )
            return username, str(answer.json().get("result", answer.status_code))

        answers = await asyncio.gather(
            *(one(i, username, totp.now()) for username, totp in customers for i in range(FIRES))
        )
    results: dict[str, Counter[str]] = {username: Counter() for username, _ in customers}
    for username, result in answers:
        results[username][result] += 1
    return results


@pytest.mark.parametrize("servers", [3, 4])
def test_the_replay_storm_on_n_servers_accepts_each_code_once(
    hsm: Hsm, tokens: SoftHsmTokens, postgres: PostgresCluster, tmp_path: Path, servers: int
) -> None:
    """The same servers take the storm straight and through HAProxy, in turns."""
    url = postgres.create_database(f"otp_storm_{servers}")
    key, people = bank_with_customers(url, hsm, CUSTOMERS * ROUNDS)
    rounds = [people[i : i + CUSTOMERS] for i in range(0, len(people), CUSTOMERS)]
    env = {**server_env(tokens, url), "OTP_TRUSTED_PROXIES": "127.0.0.1/32"}
    totals: Counter[str] = Counter()
    with ExitStack() as stack:
        backends = []
        for _ in range(servers):  # one after the other: SoftHSM processes opening one token
            backends.append(ready_server(stack, env))
        balancer = stack.enter_context(haproxy(backends, tmp_path))
        for index, customers in enumerate(rounds):
            bases = backends if index % 2 == 0 else [balancer]
            results = asyncio.run(_storm(bases, key, customers))
            told = {base: complaints(base)[-5:] for base in backends}  # why, if it failed
            for username, answers in results.items():
                assert answers["accepted"] == 1, (bases, username, answers, told)
                assert set(answers) <= {"accepted", "rejected", "locked"}, (answers, told)
                totals.update(answers)
    assert totals["accepted"] == CUSTOMERS * ROUNDS
    assert sum(totals.values()) == CUSTOMERS * FIRES * ROUNDS
    services: Services = create_app(fast_settings(url), hsm=hsm).state.services
    with services.db.transaction() as session:
        report = services.audit.verify(session)
    services.db.dispose()
    assert report.ok, report.problem
    assert report.events >= CUSTOMERS * FIRES * ROUNDS


def test_four_servers_started_at_once_on_one_token_all_go_ready(
    hsm: Hsm, tokens: SoftHsmTokens, postgres: PostgresCluster
) -> None:
    """SoftHSM processes logging in together can miss the token (`hsm.connection`): every
    one of four servers started at the same moment still goes ready, by itself. (`hsm`:
    the token's keys made.)"""
    url = postgres.create_database("otp_together")
    upgrade(url)
    starting = [server_process(server_env(tokens, url)) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        bases = list(pool.map(lambda started: started.__enter__(), starting))
    try:
        deadline = time.monotonic() + 60
        waiting = set(bases)
        while waiting and time.monotonic() < deadline:
            waiting = {b for b in waiting if httpx.get(f"{b}/health/ready").status_code != 200}
            time.sleep(0.2)
        assert not waiting, {b: complaints(b)[-3:] for b in waiting}
    finally:
        for started in starting:
            started.__exit__(None, None, None)
