"""Verify requests under `wrk` load: the servers, the request bodies, the load itself and
where its CPU time went. Shared by the `verify` and `balancer` suites."""

from __future__ import annotations

import base64
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time process `pid` (all its threads) used so far; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """A server under test: where it listens, and its process (for its CPU time)."""

    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the process (all its threads) used so far."""
        seconds = process_cpu_seconds(self.pid)
        if seconds is None:
            raise RuntimeError(f"the server at {self.base} is gone")
        return seconds


@contextmanager
def serve(
    args: list[str], env: dict[str, str], prefix: list[str] | None = None, ready: str = "/"
) -> Iterator[Server]:
    """`python -m ARGS` on a free loopback port, until it answers `ready`."""
    port = free_port()
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
                if httpx.get(base + ready, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"python -m {' '.join(args)} did not answer {ready}")
            time.sleep(0.1)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def verify_bodies(path: Path, people: Sequence[tuple[str, bytes]]) -> Path:
    """One verify body a line, each with the current code of (username, seed)."""
    now = time.time()
    with path.open("w") as out:
        for username, seed in people:
            code = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60).at(now)
            out.write(f'{{"username":"{username}","code":"{code}","purpose":"login"}}\n')
    return path


def _machine_busy_seconds() -> float:
    """CPU time all CPUs spent on anything but idling and waiting for I/O, so far."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    """What one `wrk` run got, and the CPU time spent meanwhile."""

    rate: float
    """requests per second"""
    requests: int
    not_2xx: int
    """answers wrk counted as "Non-2xx or 3xx responses\""""
    socket_errors: int
    """connect, read, write and timeout errors, all together"""
    cpu: Mapping[str, float]
    """CPU seconds by group of processes watched; "wrk" is wrk itself, "machine" every
    process of the machine (other tenants too)."""
    elapsed: float
    """seconds the run took, start to end"""

    def cpu_per_request(self, group: str) -> float:
        """Seconds of `group`'s CPU time per request."""
        return self.cpu[group] / max(self.requests, 1)


def wrk(
    base: str,
    key: str,
    bodies: Path,
    seconds: int,
    cpus: set[int] | None = None,
    watch: Mapping[str, Sequence[int]] | None = None,
    connections: int = 32,
) -> Load:
    """POST each line of `bodies` to `base`'s verify API with `wrk` for `seconds` over
    `connections`, run on `cpus` (None: anywhere), counting the CPU time of the processes
    in `watch` (by group)."""
    threads = 2
    env = {
        **os.environ,
        "BENCH_KEY": key,
        "BENCH_BODIES": str(bodies),
        "BENCH_THREADS": str(threads),
    }
    watch = watch or {}
    before = {pid: process_cpu_seconds(pid) for pids in watch.values() for pid in pids}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = _machine_busy_seconds()
    started = time.monotonic()
    out = subprocess.run(
        [
            *(["taskset", "--cpu-list", ",".join(map(str, sorted(cpus)))] if cpus else []),
            *["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"],
            *["-s", str(HERE / "wrk_bodies.lua"), base],
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elapsed = time.monotonic() - started
    cpu = {"machine": _machine_busy_seconds() - machine}
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["wrk"] = (done.ru_utime + done.ru_stime) - (children.ru_utime + children.ru_stime)
    for group, pids in watch.items():
        spent = 0.0
        for pid in pids:
            now, then = process_cpu_seconds(pid), before[pid]
            if now is not None and then is not None:
                spent += now - then
        cpu[group] = spent
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    not_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Load(
        float(rate.group(1)),
        int(count.group(1)),
        int(not_2xx.group(1)) if not_2xx else 0,
        sum(map(int, errors.groups())) if errors else 0,
        cpu,
        elapsed,
    )


@dataclass(frozen=True)
class Decisions:
    """What a server's metrics say it decided on the verify API so far."""

    accepted: float
    rejected: float
    other: float
    """every other result (locked, unavailable, ...)"""
    batch_sum: float
    batch_count: float

    def __add__(self, other: Decisions) -> Decisions:
        return Decisions(
            self.accepted + other.accepted,
            self.rejected + other.rejected,
            self.other + other.other,
            self.batch_sum + other.batch_sum,
            self.batch_count + other.batch_count,
        )

    def __sub__(self, other: Decisions) -> Decisions:
        return self + Decisions(
            -other.accepted, -other.rejected, -other.other, -other.batch_sum, -other.batch_count
        )

    @property
    def mean_batch(self) -> float:
        """Decisions per transaction on average."""
        return self.batch_sum / max(self.batch_count, 1.0)


def decisions(base: str) -> Decisions:
    """The verify decisions of the server at `base`, from its `/metrics`."""
    text = httpx.get(base + "/metrics").text
    sizes = [
        float(m.group(1)) if (m := re.search(rf"otp_verify_batch_size_{part} (\S+)", text)) else 0.0
        for part in ("sum", "count")
    ]
    counts = {"accepted": 0.0, "rejected": 0.0, "other": 0.0}
    for match in re.finditer(r'otp_verifications_total{[^}]*result="(\w+)"[^}]*} (\S+)', text):
        result = match.group(1) if match.group(1) in counts else "other"
        counts[result] += float(match.group(2))
    return Decisions(counts["accepted"], counts["rejected"], counts["other"], *sizes)
