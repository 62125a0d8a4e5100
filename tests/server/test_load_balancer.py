"""Servers behind a real load balancer (Debian's HAProxy), on one PostgreSQL (issue 21).

HAProxy (`tests/server/balancer.py`) runs as an ordinary process, checks each server's
`/health/ready`, and names the client in `X-Forwarded-For` (the servers trust it:
`OTP_TRUSTED_PROXIES`). The configuration is the one `docs/deploy.md` shows.
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from hsm import Hsm
from tests.conftest import SoftHsmTokens
from tests.server.balancer import haproxy
from tests.server.processes import PostgresCluster, ready_server, server_env
from tests.server.test_replay import _prepare, _race

pytestmark = pytest.mark.slow  # processes and a balancer: `make test` runs it, a plain `pytest` not


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> str:
    return postgres.create_database(f"otp_lb_{os.getpid()}_{time.monotonic_ns() % 10**6}")


def test_the_replay_storm_through_the_balancer_is_accepted_exactly_once(
    hsm: Hsm, tokens: SoftHsmTokens, pg_url: str, tmp_path: Path
) -> None:
    key, username, totp = _prepare(pg_url, hsm)
    env = {**server_env(tokens, pg_url), "OTP_TRUSTED_PROXIES": "127.0.0.1/32"}
    with ExitStack() as stack:
        backends = []
        for _ in range(2):  # one after the other: SoftHSM processes opening the token at once
            backends.append(ready_server(stack, env))
        base = stack.enter_context(haproxy(backends, tmp_path))
        results = asyncio.run(_race([base], key, username, totp.now()))
    assert results["accepted"] == 1, results
    assert results["unavailable"] == 0, results
    assert results["accepted"] + results["rejected"] + results["locked"] == sum(results.values())
