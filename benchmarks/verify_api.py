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
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp

from benchmarks.population import populate, seed_pool
from benchmarks.scratch_token import scratch_token
from hsm import Hsm, WrappedSeed
from server.db.engine import make_engine
from server.db.migrate import upgrade
from server.domain.clients.services import ClientService
from server.domain.verification.purposes import Purpose

HERE = Path(__file__).parent
THROUGHPUT_CUSTOMERS = 100_000
"""Enough that no round runs out of fresh codes at ~4,500 requests per second."""


@dataclass
class Fixture:
    tmp: Path
    env: dict[str, str]
    hsm: Hsm
    seeds: list[tuple[bytes, WrappedSeed]]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    """A server under test: where it listens, and its process (for its CPU time)."""

    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the process (all its threads) used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _serve(
    args: list[str], env: dict[str, str], prefix: list[str] | None = None
) -> Iterator[Server]:
    port = _free_port()
    process = subprocess.Popen(
        [*(prefix or []), sys.executable, "-m", *args, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _database(fx: Fixture, name: str, customers: int) -> tuple[str, str, list[tuple[str, bytes]]]:
    """A migrated SQLite database with `customers` TOTP credentials drawn from the seed pool.

    Returns the URL, an API key and (username, seed) of every customer."""
    url = f"sqlite:///{fx.tmp / name}.sqlite3"
    upgrade(url)
    holders = populate(url, fx.seeds, customers)
    people = [(h.username, h.seed) for h in holders]
    engine = make_engine(url)
    from sqlmodel import Session

    with Session(engine) as session, session.begin():
        _, key = ClientService(time.time).create(session, "bench", [Purpose.LOGIN])
    engine.dispose()
    return url, key, people


@dataclass(frozen=True)
class Load:
    """What one `wrk` run got from a server."""

    rate: float
    """requests per second"""
    cpu_per_request: float
    """seconds of the server's CPU time per request"""


def _wrk(server: Server, key: str, bodies: Path, seconds: int, cpus: set[int] | None) -> Load:
    """Load `server` with `wrk` for `seconds`, run on `cpus` (None: anywhere)."""
    threads = 2
    env = {
        **os.environ,
        "BENCH_KEY": key,
        "BENCH_BODIES": str(bodies),
        "BENCH_THREADS": str(threads),
    }
    cpu_before = server.cpu_seconds()
    out = subprocess.run(
        [
            *(["taskset", "--cpu-list", ",".join(map(str, sorted(cpus)))] if cpus else []),
            *["wrk", f"-t{threads}", "-c32", f"-d{seconds}s"],
            *["-s", str(HERE / "wrk_bodies.lua"), server.base],
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = server.cpu_seconds() - cpu_before
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    return Load(float(rate.group(1)), cpu / max(int(count.group(1)), 1))


def _bodies(path: Path, people: list[tuple[str, bytes]]) -> Path:
    now = time.time()
    with path.open("w") as out:
        for username, seed in people:
            code = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60).at(now)
            out.write(f'{{"username":"{username}","code":"{code}","purpose":"login"}}\n')
    return path


def _accepted(base: str) -> tuple[float, float, float]:
    """(accepted, rejected, mean batch size) from the server's metrics."""
    text = httpx.get(base + "/metrics").text
    counts = {}
    sizes = [
        float(m.group(1)) if (m := re.search(rf"otp_verify_batch_size_{part} (\S+)", text)) else 0.0
        for part in ("sum", "count")
    ]
    for result in ("accepted", "rejected"):
        match = re.search(
            rf'otp_verifications_total{{purpose="login",result="{result}"}} (\S+)', text
        )
        counts[result] = float(match.group(1)) if match else 0.0
    return counts["accepted"], counts["rejected"], sizes[0] / max(sizes[1], 1.0)


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
        _serve(
            ["uvicorn", "benchmarks.bare_app:app", "--log-level", "warning"],
            bare_env,
            prefix=["taskset", "--cpu-list", str(cpu)] if cpu is not None else None,
        ) as bare,
        _serve(["server"], env) as ours,
    ):
        for r in range(rounds):
            bare_bodies = _bodies(fx.tmp / "bare.jsonl", bare_people)
            bare_load = _wrk(bare, key, bare_bodies, seconds, load_cpus)
            mine = _bodies(fx.tmp / "ours.jsonl", people[r * share : (r + 1) * share])
            loads.append((bare_load, _wrk(ours, key, mine, seconds, load_cpus)))
        accepted, rejected, batch = _accepted(ours.base)
    ratio = statistics.median(o.rate / b.rate for b, o in loads)
    cpu_ratio = statistics.median(b.cpu_per_request / o.cpu_per_request for b, o in loads)
    lines = [
        f"round {i + 1:2}: bare {b.rate:>6,.0f} req/s {b.cpu_per_request * 1e3:.2f} ms CPU/req, "
        f"verify API {o.rate:>6,.0f} req/s {o.cpu_per_request * 1e3:.2f} ms CPU/req, "
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
        _serve(["server"], envs[0]) as small,
        _serve(["server"], envs[1]) as large,
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
        env = {
            **token.env,
            "OTP_HSM_TOKEN_LABEL": token.label,
            "OTP_HSM_PIN_FILE": str(token.user_pin_file),
            "OTP_LOG_FORMAT": "json",
        }
        fx = Fixture(tmp, env, hsm, pool)
        wrk_seconds = max(1, round(seconds * 2))
        cpu = max(os.sched_getaffinity(0))
        return [
            *throughput(fx, wrk_seconds, cpu),
            *throughput(fx, wrk_seconds, None),
            *latency(fx, 300),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
