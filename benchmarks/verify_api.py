"""Verify API throughput and latency, each against a baseline measured in the same run.

1. Throughput: one server process (HSM + database + replay protection + audit) against the
   bare Litestar endpoint of `benchmarks.bare_app` (a pyotp code held in memory), both under
   the same `wrk` load from a second process on loopback, taking turns (the median of the
   rounds' ratios is reported). Both are kept on one CPU, as the README's deployment
   notes have it (one process per core, `OTP_CPU`); a second pair runs unpinned, for
   comparison. Every request to our server carries a fresh, valid code of a different
   customer with a seed of its own, so each is a real acceptance and each seed is unwrapped
   by the HSM (the handle cache never helps).
2. Scale: median latency of sequential verifications with 100,000 credentials in the database
   against 1,000. Both databases share the same pool of wrapped seeds and the measured
   customers are all new to the server (cold handle cache), so the two differ only in size.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp

from benchmarks.population import seed_pool, verify_population
from benchmarks.scratch_token import scratch_token, server_env
from benchmarks.wrk_load import Load, decisions, serve, verify_bodies, wrk
from hsm import Hsm, WrappedSeed

THROUGHPUT_CUSTOMERS = 100_000
"""Enough that no round runs out of fresh codes at ~4,500 requests per second."""


@dataclass
class Fixture:
    tmp: Path
    env: dict[str, str]
    hsm: Hsm
    seeds: list[tuple[bytes, WrappedSeed]]


def _database(fx: Fixture, name: str, customers: int) -> tuple[str, str, list[tuple[str, bytes]]]:
    """A migrated SQLite database with `customers` TOTP credentials drawn from the seed pool.

    Returns the URL, an API key and (username, seed) of every customer."""
    url = f"sqlite:///{fx.tmp / name}.sqlite3"
    key, people = verify_population(url, fx.seeds, customers)
    return url, key, people


def throughput(fx: Fixture, seconds: int, cpu: int | None, rounds: int = 11) -> list[str]:
    """Both servers run at once and take turns under load, `rounds` times: the ratio of
    each round compares two measurements seconds apart, and the report gives their
    median. This machine's speed changes within seconds (other tenants), so many short
    rounds give a steadier median than a few long ones.

    With `cpu`, both servers are kept on that CPU: ours with its own setting (OTP_CPU, as
    for production with one process per core), the bare endpoint with `taskset`; the load
    comes from the other CPUs, so that it takes no time from the servers' one. Each round
    also reports the CPU time each server spent per request (all its threads)."""
    url, key, people = _database(fx, f"throughput-{cpu}", THROUGHPUT_CUSTOMERS)
    env = {**fx.env, "OTP_DATABASE_URL": url, "OTP_LOG_LEVEL": "warning"}
    if cpu is not None:
        env["OTP_CPU"] = str(cpu)
    bare_people = people[:2000]
    bare_env = {
        **fx.env,
        "BENCH_BARE_USERS": json.dumps({u: base64.b32encode(s).decode() for u, s in bare_people}),
    }
    load_cpus = None  # unpinned: wrk runs anywhere
    if cpu is not None:
        load_cpus = (os.sched_getaffinity(0) - {cpu}) or None
    share = len(people) // rounds  # each round's customers are new to the server
    loads: list[tuple[Load, Load]] = []
    with (
        serve(
            ["uvicorn", "benchmarks.bare_app:app", "--log-level", "warning"],
            bare_env,
            prefix=["taskset", "--cpu-list", str(cpu)] if cpu is not None else None,
        ) as bare,
        serve(["server"], env) as ours,
    ):
        for r in range(rounds):
            bare_bodies = verify_bodies(fx.tmp / "bare.jsonl", bare_people)
            bare_load = wrk(bare.base, key, bare_bodies, seconds, load_cpus, {"server": [bare.pid]})
            mine = verify_bodies(fx.tmp / "ours.jsonl", people[r * share : (r + 1) * share])
            loads.append(
                (bare_load, wrk(ours.base, key, mine, seconds, load_cpus, {"server": [ours.pid]}))
            )
        decided = decisions(ours.base)
    accepted, rejected, batch = decided.accepted, decided.rejected, decided.mean_batch
    ratio = statistics.median(o.rate / b.rate for b, o in loads)
    cpu_ratio = statistics.median(
        b.cpu_per_request("server") / o.cpu_per_request("server") for b, o in loads
    )
    lines = [
        f"round {i + 1:2}: bare {b.rate:>6,.0f} req/s "
        f"{b.cpu_per_request('server') * 1e3:.2f} ms CPU/req, "
        f"verify API {o.rate:>6,.0f} req/s {o.cpu_per_request('server') * 1e3:.2f} ms CPU/req, "
        f"ratio {o.rate / b.rate:.3f}"
        for i, (b, o) in enumerate(loads)
    ]
    where = f"both kept on CPU {cpu}" if cpu is not None else "neither pinned to a CPU"
    goal = "  (goal >= 0.5)" if cpu is not None else "  (for comparison)"
    return [
        "bare Litestar + pyotp in memory (baseline) against the verify API",
        f"(HSM + SQLite + replay + audit), taking turns under the same load, {where}:",
        *lines,
        f"verify API / bare, median of {rounds} rounds   ratio {ratio:.3f}{goal}",
        f"  CPU time per request, bare / verify API, median   {cpu_ratio:.3f}",
        f"  of which accepted {accepted:,.0f}, rejected {rejected:,.0f}; "
        f"{batch:.1f} decisions per transaction on average"
        + ("  (ran out of fresh codes: some were replays)" if rejected else ""),
    ]


def latency(fx: Fixture, samples: int) -> list[str]:
    """Both servers run at once and requests alternate between them, so the machine's
    changing load falls on both alike."""
    sizes = (1_000, 100_000)
    setups = []
    for size in sizes:
        url, key, people = _database(fx, f"scale{size}", size)
        # customers spread over the table, each with a seed the server has not unwrapped yet
        chosen = [people[i] for i in range(0, size, max(1, size // samples))][:samples]
        setups.append((url, key, chosen))
    times: dict[int, list[float]] = {size: [] for size in sizes}
    envs = [{**fx.env, "OTP_DATABASE_URL": url, "OTP_LOG_LEVEL": "warning"} for url, _, _ in setups]
    with (
        serve(["server"], envs[0]) as small,
        serve(["server"], envs[1]) as large,
        httpx.Client() as client,
    ):
        bases = (small.base, large.base)
        for base in bases:
            client.get(f"{base}/health/ready")
        for i in range(samples):
            for size, base, (_, key, chosen) in zip(sizes, bases, setups, strict=True):
                username, seed = chosen[i]
                code = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60).now()
                started = time.perf_counter()
                response = client.post(
                    f"{base}/api/v1/verify",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"username": username, "code": code, "purpose": "login"},
                )
                times[size].append(time.perf_counter() - started)
                if response.json()["result"] != "accepted":
                    raise RuntimeError(f"benchmark request refused: {response.text}")
    medians = {size: statistics.median(values) for size, values in times.items()}
    ratio = medians[100_000] / medians[1_000]
    return [
        f"median verify latency, 1,000 credentials     {medians[1_000] * 1000:8.2f} ms",
        f"median verify latency, 100,000 credentials   {medians[100_000] * 1000:8.2f} ms  "
        f"ratio {ratio:.3f}  (goal <= 1.2)",
    ]


def run(seconds: float = 1.0) -> list[str]:
    """Build the fixtures, run both measurements, return the report lines."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        token, config = scratch_token(tmp, "bench")
        hsm = Hsm(config)
        hsm.ensure_keys()
        # as many seeds as the throughput test has customers: no two requests share one
        pool = seed_pool(hsm, THROUGHPUT_CUSTOMERS)
        hsm.close()
        fx = Fixture(tmp, server_env(token), hsm, pool)
        wrk_seconds = max(1, round(seconds * 2))
        cpu = max(os.sched_getaffinity(0))
        return [
            *throughput(fx, wrk_seconds, cpu),
            *throughput(fx, wrk_seconds, None),
            *latency(fx, 300),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
