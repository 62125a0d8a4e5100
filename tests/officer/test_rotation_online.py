"""KEK rotation of 10,000 credentials while a real server verifies codes; kill -9; resume.

Everything that changes the officer token's keys runs in subprocesses, as in production:
`otp-admin keys rotate` (killed with SIGKILL after some batches, then run again) and the
server (`python -m server`). A thread of this test sends the server a fresh, valid TOTP code
of a different customer at every request, before, during and after the rotation; none may be
refused. At the end every one of the 10,000 rows must still unwrap, through the HSM, to the
seed it was given (checked against pyotp).
"""

from __future__ import annotations

import base64
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlmodel import Session

from benchmarks.population import Holder, populate, seed_pool
from hsm import Algorithm, Hsm, KeyPurpose, WrappedSeed
from server.db.engine import make_engine
from server.db.migrate import upgrade
from server.domain.clients.services import ClientService
from server.domain.verification.purposes import Purpose
from tests.conftest import SoftHsmTokens
from tests.officer.conftest import admin_process, officer_env, token_env
from tests.server.processes import server_process

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not

CREDENTIALS = 10_000
POOL = 500
KILL_AFTER = 2_000  # re-wrapped rows seen before the first rotation is killed


@dataclass
class Verifier:
    """Verifies one customer after another through the server, each with its current code."""

    base: str
    api_key: str
    queue: list[Holder]
    results: list[tuple[float, float, str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while self.queue and not self.stop.is_set():
                holder = self.queue.pop()
                started = time.monotonic()
                result = verify(client, self.api_key, holder)
                self.results.append((started, time.monotonic(), holder.username, result))

    def failures(self) -> list[tuple[float, float, str, str]]:
        return [r for r in self.results if r[3] != "accepted"]

    def between(self, start: float, end: float) -> int:
        return sum(1 for r in self.results if r[0] >= start and r[1] <= end)


def verify(client: httpx.Client, api_key: str, holder: Holder) -> str:
    code = pyotp.TOTP(base64.b32encode(holder.seed).decode(), interval=60).now()
    response = client.post(
        "/api/v1/verify",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"username": holder.username, "code": code, "purpose": "login"},
    )
    return str(response.json().get("result", response.status_code))


def kek_counts(path: Path) -> dict[int, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        return dict(db.execute("SELECT kek_version, count(*) FROM credentials GROUP BY 1"))


def kek_versions(hsm: Hsm) -> list[int]:
    hsm.reload_keys()
    return sorted(k.version for k in hsm.keys() if k.purpose is KeyPurpose.SEED_WRAPPING)


@pytest.mark.slow
def test_online_rotation_killed_and_resumed(
    tokens: SoftHsmTokens, officer_hsm: Hsm, tmp_path: Path
) -> None:
    # -- 10,000 customers, each with a TOTP credential under the current KEK --------------
    path = tmp_path / "otp.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    officer_hsm.reload_keys()  # earlier tests may have rotated this token in subprocesses
    pool = seed_pool(officer_hsm, POOL)
    old = pool[0][1].kek_version
    holders = populate(url, pool, CREDENTIALS)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        _, api_key = ClientService(time.time).create(session, "netbank", [Purpose.LOGIN])
    engine.dispose()
    env = token_env(tokens, tokens.officer.label, url)
    officer = officer_env(tokens, tokens.officer.label, url)
    admin = admin_process(officer)
    rotate_cmd = [sys.executable, "-m", "server.cli", "keys", "rotate", "--batch-size", "200"]

    shuffled = holders[:8_000]
    random.Random(6030).shuffle(shuffled)
    spare = holders[8_000:]  # never used by the verifier: checked after the rotation

    with server_process(env) as base:
        verifier = Verifier(base, api_key, shuffled)
        verifier.thread.start()
        while len(verifier.results) < 50:  # the server is warm and accepting
            time.sleep(0.05)
            assert verifier.thread.is_alive()

        # -- first run: killed with SIGKILL after some batches -----------------------------
        rotation_started = time.monotonic()
        first = subprocess.Popen(
            [*rotate_cmd, "--pause", "0.05"],
            env={**os.environ, **officer},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            counts = kek_counts(path)
            if sum(n for v, n in counts.items() if v > old) >= KILL_AFTER:
                break
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the rotation made no progress"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate()
        assert first.returncode == -signal.SIGKILL
        counts = kek_counts(path)
        new = max(counts)
        assert new == old + 1
        assert 0 < counts[old] < CREDENTIALS, f"not killed mid-run: {counts}"
        assert sum(counts.values()) == CREDENTIALS

        # -- retiring the old KEK is refused while rows still use it -----------------------
        refused = admin("keys", "retire", str(old), "--grace-seconds", "0", ok=False)
        assert refused.returncode == 1
        assert f"still wrapped under KEK v{old}" in refused.stderr

        # -- second run: resumes (no third KEK) and finishes -------------------------------
        second = admin("keys", "rotate", "--batch-size", "200")
        rotation_ended = time.monotonic()
        assert f"resuming the rotation to KEK v{new}" in second.stdout
        assert kek_versions(officer_hsm)[-2:] == [old, new]
        assert kek_counts(path) == {new: CREDENTIALS}

        verifier.stop.set()
        verifier.thread.join(timeout=30)
        during = verifier.between(rotation_started, rotation_ended)
        assert verifier.failures() == []
        assert during >= 200, f"only {during} verifications overlapped the rotation"
        print(f"{len(verifier.results)} verifications, {during} during the rotation, 0 refused")

        # -- customers the verifier never used: accepted now, and after the retirement -----
        with httpx.Client(base_url=base, timeout=30) as client:
            assert {verify(client, api_key, h) for h in spare[:300]} == {"accepted"}
            admin("keys", "retire", str(old), "--grace-seconds", "0")
            assert old not in kek_versions(officer_hsm)
            assert {verify(client, api_key, h) for h in spare[300:400]} == {"accepted"}

    # -- every row unwraps, in the HSM, to the seed it was given --------------------------
    step = 29_999_999
    expected = {seed: pyotp.HOTP(base64.b32encode(seed).decode()).at(step) for seed, _ in pool}
    by_id = {h.public_id: h.seed for h in holders}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT public_id, wrapped_seed, kek_version, seed_length FROM credentials"
        ).fetchall()
    assert len(rows) == CREDENTIALS
    for public_id, blob, version, length in rows:
        sealed = WrappedSeed(bytes(blob), version, length)
        code = officer_hsm.otp_values(sealed, Algorithm.SHA1, 6, [step])[0]
        assert code == expected[by_id[public_id]], public_id

    trail = admin("audit", "keys").stdout
    assert "key.create" in trail and "key.rewrap" in trail and "resumed" in trail
    assert "refused (in_use)" in trail
    assert f"otp-kek-v{old}" in trail.splitlines()[-1] and "key.retire" in trail
    assert "audit chain OK" in admin("audit", "verify").stdout
