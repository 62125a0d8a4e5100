"""The audit chain's head under several writing processes (issue 21; docs/design.md §4,
"Lock order").

Every writing transaction locks the one head row, last, and holds it to its commit: the
head serialises the writers of every server process. Here W processes on one PostgreSQL
database and one SoftHSM token append batches of 12 events (a busy verify batch) as fast
as they can, W = 1, 2 and 4 in alternating rounds of one run. The report gives the
transactions and events per second, and for each transaction the time spent waiting for
the head and holding it (from its lock to the end of the commit) and the HSM calls made.

PostgreSQL comes from the tests' throw-away cluster (`tests.server.processes`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from benchmarks.scratch_token import scratch_token, server_env
from hsm import Hsm
from server.db.migrate import upgrade

BATCH = 12
WRITERS = (1, 2, 4)


@dataclass(frozen=True)
class Tally:
    """What one writer did in a round."""

    transactions: int
    waiting: float
    """seconds spent waiting for the head's lock"""
    holding: float
    """seconds from the head's lock to the end of the commit"""
    hsm_calls: int
    """audit MACs asked of the HSM, under the head's lock or before it"""


def _writer(env: dict[str, str], start: Any, seconds: float, out: Any) -> None:
    """One server's audit service appending batches until `seconds` after `start`."""
    os.environ.update(env)  # before the PKCS#11 module reads SOFTHSM2_CONF
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from server.app import create_app
    from server.domain.audit import store
    from server.domain.audit.rules import AuditRecord
    from server.settings import Settings

    services = create_app(Settings()).state.services
    audit, engine = services.audit, services.db.engine
    locked: list[tuple[float, float]] = []
    lock = store.locked_head

    def timed_lock(connection: Any) -> Any:
        asked = time.perf_counter()
        head = lock(connection)
        locked.append((asked, time.perf_counter()))
        return head

    store.locked_head = timed_lock  # instrumentation, in this process only
    calls = [0]
    sealer = audit._hsm
    mac = sealer.audit_mac

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return mac(*args)

    sealer.audit_mac = counted  # the same
    records = [
        AuditRecord("client:bench", "verify", f"user{i}", "login", "accepted", "accepted")
        for i in range(BATCH)
    ]
    start.wait()
    deadline = time.perf_counter() + seconds
    transactions, waiting, holding = 0, 0.0, 0.0
    while time.perf_counter() < deadline:
        with engine.begin() as connection:
            audit.append_many(connection, records)
        ended = time.perf_counter()
        asked, got = locked[-1]
        transactions += 1
        waiting += got - asked
        holding += ended - got
    out.put(Tally(transactions, waiting, holding, calls[0]))
    services.db.dispose()


def _round(env: dict[str, str], writers: int, seconds: float) -> list[Tally]:
    context = multiprocessing.get_context("spawn")  # no PKCS#11 state across a fork
    start, out = context.Barrier(writers + 1), context.Queue()
    processes = [
        context.Process(target=_writer, args=(env, start, seconds, out)) for _ in range(writers)
    ]
    for process in processes:
        process.start()
    start.wait(timeout=120)
    tallies = [out.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    return tallies


def run(seconds: float = 1.0) -> list[str]:
    from tests.server.processes import PostgresCluster

    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    cluster = PostgresCluster()
    try:
        cluster.start()
        url = cluster.create_database("audit_head")
        upgrade(url)
        token, config = scratch_token(tmp, "bench", accepted_weaknesses={"key-store-readable"})
        hsm = Hsm(config)
        hsm.ensure_keys()
        hsm.close()
        env = {
            **server_env(token),
            "OTP_DATABASE_URL": url,
            "OTP_HSM_ACCEPT_WEAKNESSES": "key-store-readable",
        }
        round_seconds = max(1.0, 2 * seconds)
        rates: dict[int, list[float]] = {w: [] for w in WRITERS}
        tallies: dict[int, list[Tally]] = {w: [] for w in WRITERS}
        lines = [
            f"W processes append batches of {BATCH} audit events to one PostgreSQL, "
            f"{round_seconds:.0f} s a round:"
        ]
        for index in range(3):
            for writers in WRITERS:
                got = _round(env, writers, round_seconds)
                rate = sum(t.transactions for t in got) / round_seconds
                rates[writers].append(rate)
                tallies[writers] += got
                lines.append(
                    f"round {index + 1}, W={writers}: {rate:,.0f} transactions/s, "
                    f"{rate * BATCH:,.0f} events/s"
                )
        base = statistics.median(rates[1])
        for writers in WRITERS:
            done = tallies[writers]
            count = sum(t.transactions for t in done)
            wait = sum(t.waiting for t in done) / count * 1000
            hold = sum(t.holding for t in done) / count * 1000
            macs = sum(t.hsm_calls for t in done) / count
            rate = statistics.median(rates[writers])
            lines.append(
                f"W={writers}: median {rate:,.0f} transactions/s, ratio to W=1 "
                f"{rate / base:.2f}; per transaction: waited {wait:.2f} ms, held the head "
                f"{hold:.2f} ms, {macs:.2f} HSM MACs"
            )
        return lines
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
