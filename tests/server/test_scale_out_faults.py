"""Faults in the middle of steady load through the balancer (issue 21): PostgreSQL restarted,
the HSM taken away from one server, one server killed and started again. Each test counts
every answer the clients got.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hsm import Hsm
from softhsm_config import SoftHsmToken
from tests.conftest import SoftHsmTokens
from tests.server.balancer import haproxy
from tests.server.processes import (
    PostgresCluster,
    free_port,
    ready_server,
    server_env,
    server_process,
)
from tests.server.test_replay import bank_with_customers

pytestmark = pytest.mark.slow  # processes and a balancer: `make test` runs it, a plain `pytest` not

CLIENTS = 4
"""Threads sending requests one after the other: at most this many are ever in flight."""
HEALTHY = {200, 403, 423}
"""A decision: accepted, rejected, locked (the load's wrong codes spend guessing budgets)."""


@dataclass
class Load:
    """Verify requests without pause from `CLIENTS` threads, every answer kept with its time
    (a connection that failed is status 0)."""

    url: str
    key: str
    answers: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self, index: int) -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    status = client.post(
                        f"{self.url}/api/v1/verify",
                        headers={"Authorization": f"Bearer {self.key}"},
                        json={
                            "username": f"load-{index}-{n % 50}",
                            "code": "000000",
                            "purpose": "login",
                        },
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                self.answers.append((time.monotonic(), status))

    @contextmanager
    def running(self) -> Iterator[Load]:
        threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=30)

    def between(self, start: float, end: float = float("inf")) -> Counter[int]:
        return Counter(status for at, status in list(self.answers) if start <= at < end)

    def wait_healthy(self, after: float, seconds: float = 30) -> float:
        """When `CLIENTS` answers in a row after `after` were decisions again."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            recent = [(at, s) for at, s in list(self.answers) if at >= after][-CLIENTS * 3 :]
            if len(recent) == CLIENTS * 3 and all(s in HEALTHY for _, s in recent):
                return recent[0][0]
            time.sleep(0.1)
        raise AssertionError(f"no recovery within {seconds} s: {self.between(after)}")


def _verify(url: str, key: str, username: str, code: str) -> tuple[int, str]:
    answer = httpx.post(
        f"{url}/api/v1/verify",
        headers={"Authorization": f"Bearer {key}"},
        json={"username": username, "code": code, "purpose": "login"},
        timeout=10,
    )
    return answer.status_code, str(answer.json().get("result"))


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: it is stopped and started in the middle."""
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


def test_a_postgresql_restart_is_unavailable_then_recovers_without_restarting_servers(
    hsm: Hsm, tokens: SoftHsmTokens, own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    url = own_postgres.create_database("otp_restart")
    key, [(username, totp)] = bank_with_customers(url, hsm, 1)
    env = {**server_env(tokens, url), "OTP_TRUSTED_PROXIES": "127.0.0.1/32"}
    with ExitStack() as stack:
        backends = []
        for _ in range(2):
            backends.append(ready_server(stack, env))
        balancer = stack.enter_context(haproxy(backends, tmp_path))
        load = stack.enter_context(Load(balancer, key).running())
        time.sleep(1)
        stopped = time.monotonic()
        own_postgres.pause()
        time.sleep(2)
        during = load.between(stopped + 0.5)  # answers given while it was down
        own_postgres.resume()
        back = time.monotonic()
        healthy = load.wait_healthy(back)
        status, result = _verify(balancer, key, username, totp.now())
        replay = _verify(balancer, key, username, totp.now())
    every = load.between(0)
    assert 500 not in every and 0 not in every, every  # never an error, never a dropped call
    assert set(during) <= {503}, during  # unavailable while the database is away
    assert during[503] > 0, during
    assert set(load.between(healthy)) <= HEALTHY
    assert (status, result) == (200, "accepted")
    assert replay == (403, "rejected")
    print(f"answers: {dict(every)}; recovered {healthy - back:.1f} s after PostgreSQL was back")


def _copy_of(token: SoftHsmToken, directory: Path) -> dict[str, str]:
    """The environment of a server on a copy of `token`'s files (the same keys), whose
    token directory a test can take away without touching the other servers'."""
    shutil.copytree(token.conf_path.parent, directory)
    conf = directory / token.conf_path.name
    text = conf.read_text()
    conf.write_text(
        re.sub(r"(directories\.tokendir\s*=\s*).*", rf"\g<1>{directory / 'tokens'}", text)
    )
    return {"SOFTHSM2_CONF": str(conf)}


def test_a_server_that_loses_its_hsm_goes_unready_and_gets_no_more_requests(
    hsm: Hsm, tokens: SoftHsmTokens, postgres: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres.create_database(f"otp_hsm_away_{os.getpid()}")
    key, _ = bank_with_customers(url, hsm, 0)
    env = {**server_env(tokens, url), "OTP_TRUSTED_PROXIES": "127.0.0.1/32"}
    copy = tmp_path / "hsm-b"
    env_b = {**env, **_copy_of(tokens.main, copy)}
    with ExitStack() as stack:
        keeper = ready_server(stack, env)
        loser = ready_server(stack, env_b)
        balancer = stack.enter_context(haproxy([keeper, loser], tmp_path))
        load = stack.enter_context(Load(balancer, key).running())
        time.sleep(1)
        (copy / "tokens").rename(copy / "tokens.unplugged")
        away = time.monotonic()
        deadline = away + 20
        while httpx.get(f"{loser}/health/ready").status_code == 200:
            assert time.monotonic() < deadline, "the server without its HSM stayed ready"
            time.sleep(0.1)
        unready = time.monotonic()
        time.sleep(1)  # a few of the balancer's checks: it marks the server down
        noticed = time.monotonic()
        time.sleep(2)
        after = load.between(noticed)
        reason = httpx.get(f"{loser}/health/ready").json()["hsm"]
    every = load.between(0)
    assert 500 not in every and 0 not in every, every
    assert set(after) <= HEALTHY, after  # only the server with its HSM answers now
    assert sum(after.values()) > 10 * CLIENTS, after
    # `unavailable` only from the server itself, between its HSM going and the balancer's
    # next checks: never before, never after
    assert set(load.between(0, away)) <= HEALTHY
    assert reason["ok"] is False and reason["reason"], reason  # and it says why
    print(f"answers: {dict(every)}; unready {unready - away:.1f} s after its HSM went away")


def test_a_killed_server_loses_at_most_its_requests_in_flight_and_accepts_no_code_twice(
    hsm: Hsm, tokens: SoftHsmTokens, postgres: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres.create_database(f"otp_kill_{os.getpid()}")
    key, people = bank_with_customers(url, hsm, 6)
    env = {**server_env(tokens, url), "OTP_TRUSTED_PROXIES": "127.0.0.1/32"}
    victim_port = free_port()
    with ExitStack() as stack:
        survivor = ready_server(stack, env)
        victim = ready_server(stack, env, port=victim_port)
        balancer = stack.enter_context(haproxy([survivor, victim], tmp_path))
        accepted = [
            (username, code)
            for username, totp in people
            if _verify(balancer, key, username, code := totp.now()) == (200, "accepted")
        ]
        load = stack.enter_context(Load(balancer, key).running())
        time.sleep(1)
        pid = int(
            subprocess.run(
                ["pgrep", "-f", "--", f"--port {victim_port}"], capture_output=True, text=True
            ).stdout.split()[0]
        )
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(2)
        with server_process(env, port=victim_port) as again:
            assert httpx.get(f"{again}/health/ready").status_code == 200
            time.sleep(1)
            replays = [_verify(url_, key, u, c) for u, c in accepted for url_ in (again, balancer)]
        every = load.between(0)
    assert len(accepted) == len(people)
    assert all(answer == (403, "rejected") for answer in replays), replays
    failed = sum(n for status, n in load.between(killed).items() if status not in HEALTHY)
    assert failed <= CLIENTS, every  # only the requests in flight at the kill
    assert 500 not in every, every
    print(f"answers: {dict(every)}")
