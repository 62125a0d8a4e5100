"""Throughput through the load balancer (issue 21): HAProxy in front of one server process,
and in front of two, on one PostgreSQL; the goal is 2 ÷ 1 >= 1.6.

Both set-ups run at once and take turns under the same `wrk` load (1, 2, 1, 2, ...); the
report gives each round's rates, the median of the rounds' ratios, every answer that was
not a 2xx (a 503 would be a bug: both servers stay ready) and where the CPU time went. On a
machine with few cores, wrk, HAProxy and PostgreSQL take their share of the same cores as
the servers: that split says how far the ratio can go on it.

As in the `verify` suite, every request carries a fresh, valid code of a different
customer with a seed of its own, so each is a real acceptance. The servers are configured
as docs/deploy.md says: one process per core, each kept on its own CPU (`OTP_CPU`), the
balancer trusted with `X-Forwarded-For`. The single server is one of the pair (CPU 0).

HAProxy and the throw-away PostgreSQL cluster are the ones the scale-out tests start
(`tests.server.balancer`, `tests.server.processes`): this module imports them from the
tests on purpose, so that the figures are for the configuration the tests check.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.population import seed_pool, verify_population
from benchmarks.scratch_token import scratch_token, server_env
from benchmarks.wrk_load import Decisions, Load, Server, decisions, serve, verify_bodies, wrk
from hsm import Hsm
from tests.conftest import SOFTHSM_ACCEPTED
from tests.server.balancer import haproxy
from tests.server.processes import PostgresCluster

CUSTOMERS = 150_000
"""Enough fresh codes for 22 rounds of 2 s at ~3,000 requests per second."""
GOAL = 1.6


@dataclass(frozen=True)
class Fleet:
    """The processes a benchmark run watches: their CPU time is reported by group."""

    servers: Sequence[Server]
    balancers: Sequence[int]
    postgres_dir: Path

    def groups(self) -> dict[str, list[int]]:
        """Process ids by group: each server, the balancers, PostgreSQL's processes."""
        postmaster = int((self.postgres_dir / "data" / "postmaster.pid").read_text().split()[0])
        return {
            **{f"server {i}": [s.pid] for i, s in enumerate(self.servers)},
            "haproxy": list(self.balancers),
            "postgres": [postmaster, *_children(postmaster)],
        }


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def _balancer_pid(config_dir: Path) -> int:
    """The HAProxy this process started with the configuration in `config_dir`."""
    for pid in _children(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command[0].endswith(b"haproxy") and str(config_dir).encode() in command[2]:
            return pid
    raise RuntimeError(f"no HAProxy of ours runs {config_dir}")


@contextmanager
def _balanced(backends: Sequence[Server], tmp: Path) -> Iterator[tuple[str, int]]:
    """HAProxy in front of `backends`; yields its URL and process id."""
    tmp.mkdir()
    with haproxy([s.base for s in backends], tmp) as base:
        yield base, _balancer_pid(tmp)


@dataclass(frozen=True)
class Bench:
    """Everything a round needs: both balancers, the processes, the customers."""

    bases: tuple[str, str]
    """HAProxy in front of 1 server, and in front of 2"""
    fleet: Fleet
    key: str
    people: Sequence[tuple[str, bytes]]
    tmp: Path
    pinned: bool
    """whether each server is kept on its own CPU"""

    def decisions(self) -> Decisions:
        """The verify decisions of both servers so far."""
        first, second = (decisions(s.base) for s in self.fleet.servers)
        return first + second


@contextmanager
def bench(customers: int = CUSTOMERS, *, pinned: bool = True) -> Iterator[Bench]:
    """A PostgreSQL cluster with `customers`, two servers (`pinned`: on CPUs 0 and 1) and
    HAProxy in front of the first, and in front of both."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-balancer-"))
    cluster = PostgresCluster()
    try:
        cluster.start()
        token, config = scratch_token(tmp, "bench-lb")
        hsm = Hsm(config)
        hsm.ensure_keys()
        pool = seed_pool(hsm, customers)  # no two requests share a seed
        hsm.close()
        url = cluster.create_database("bench_lb")
        key, people = verify_population(url, pool, customers)
        env = {
            **server_env(token),
            "OTP_DATABASE_URL": url,
            "OTP_HSM_ACCEPT_WEAKNESSES": ",".join(SOFTHSM_ACCEPTED),
            "OTP_TRUSTED_PROXIES": "127.0.0.1/32",
            "OTP_LOG_LEVEL": "warning",
        }
        with ExitStack() as stack:
            servers = [  # one after the other: SoftHSM processes opening the token at once
                stack.enter_context(
                    serve(
                        ["server"],
                        {**env, "OTP_CPU": str(cpu)} if pinned else env,
                        ready="/health/ready",
                    )
                )
                for cpu in (0, 1)
            ]
            one, one_pid = stack.enter_context(_balanced(servers[:1], tmp / "one"))
            two, two_pid = stack.enter_context(_balanced(servers, tmp / "two"))
            fleet = Fleet(servers, (one_pid, two_pid), cluster.dir)
            yield Bench((one, two), fleet, key, people, tmp, pinned)
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run(seconds: float = 1.0, *, rounds: int = 11, customers: int = CUSTOMERS) -> list[str]:
    """Build the fixtures, take `rounds` turns of `2 * seconds` each, return the report."""
    wrk_seconds = max(1, round(seconds * 2))
    with bench(customers) as b:
        turns = take_turns(b, wrk_seconds, rounds)
    return _report(turns, wrk_seconds, pinned=b.pinned)


@dataclass(frozen=True)
class Turns:
    """What each set-up (1 server, 2 servers) got in every round, and decided in all."""

    loads: tuple[list[Load], list[Load]]
    decided: tuple[Decisions, Decisions]


def take_turns(b: Bench, seconds: int, rounds: int, connections: int = 32) -> Turns:
    """`rounds` turns of `wrk` on each set-up; every turn has customers of its own."""
    share = len(b.people) // (rounds * 2)
    loads: tuple[list[Load], list[Load]] = ([], [])
    decided = [Decisions(0, 0, 0, 0, 0)] * 2
    turn = 0
    for _ in range(rounds):
        for i, base in enumerate(b.bases):
            bodies = verify_bodies(
                b.tmp / "bodies.jsonl", b.people[turn * share : (turn + 1) * share]
            )
            before = b.decisions()
            watch = b.fleet.groups()
            loads[i].append(wrk(base, b.key, bodies, seconds, None, watch, connections))
            decided[i] += b.decisions() - before
            turn += 1
    return Turns(loads, (decided[0], decided[1]))


def _report(turns: Turns, seconds: int, *, pinned: bool) -> list[str]:
    ones, twos = turns.loads
    where = "each kept on its own CPU" if pinned else "not pinned"
    lines = [
        f"HAProxy in front of 1 and of 2 server processes ({where}), one "
        f"PostgreSQL, wrk unpinned, taking turns {seconds} s each:",
        *(
            f"round {i + 1:2}: 1 server {a.rate:>6,.0f} req/s, 2 servers {b.rate:>6,.0f} req/s, "
            f"ratio {b.rate / a.rate:.3f}"
            for i, (a, b) in enumerate(zip(ones, twos, strict=True))
        ),
        f"2 servers / 1 server, median of {len(ones)} rounds   ratio "
        f"{statistics.median(b.rate / a.rate for a, b in zip(ones, twos, strict=True)):.3f}"
        f"  (goal >= {GOAL})",
    ]
    names = ("1 server", "2 servers")
    for name, runs, decided in zip(names, turns.loads, turns.decided, strict=True):
        requests = sum(r.requests for r in runs)
        lines.append(
            f"  {name}: {sum(r.not_2xx for r in runs):,} answers not 2xx and "
            f"{sum(r.socket_errors for r in runs):,} socket errors in {requests:,} requests; "
            f"accepted {decided.accepted:,.0f}, rejected {decided.rejected:,.0f}, "
            f"other {decided.other:,.0f}; {decided.mean_batch:.1f} decisions per transaction"
            + ("  (ran out of fresh codes: some were replays)" if decided.rejected else "")
        )
    return [*lines, *_cpu_split(ones, twos)]


def _cpu_split(ones: list[Load], twos: list[Load]) -> list[str]:
    """CPU time per request by process group, how busy the machine was, and how fast two
    servers could go at most on this machine's CPUs."""
    totals = [_summed(runs) for runs in (ones, twos)]
    groups = [g for g in totals[1] if g != "machine"]
    ours = [sum(t[g] for g in groups) for t in totals]
    rest = [t["machine"] - own for t, own in zip(totals, ours, strict=True)]
    cpus = len(os.sched_getaffinity(0))
    busy = [statistics.median(r.cpu["machine"] / r.elapsed for r in runs) for runs in (ones, twos)]
    rows = [
        *((group, totals[0][group], totals[1][group], 3) for group in groups),
        ("all of the above (the benchmark itself)", ours[0], ours[1], 3),
        ("everything else on the machine", rest[0], rest[1], 3),
        (f"CPUs busy (median of rounds, of {cpus})", *busy, 2),
    ]
    # however the work is spread, the benchmark's processes cannot use more than every CPU
    ceiling = 1e3 * cpus / ours[1]
    one = statistics.median(r.rate for r in ones)
    return [
        "CPU time per request (ms), all rounds:      1 server   2 servers",
        *(f"  {name:<40} {a:>8.{digits}f}   {b:>8.{digits}f}" for name, a, b, digits in rows),
        f"2 servers at most {ceiling:,.0f} req/s here ({cpus} CPUs / their CPU per request), "
        f"{ceiling / one:.2f} x the 1 server's median {one:,.0f} req/s",
    ]


def _summed(runs: Sequence[Load]) -> Mapping[str, float]:
    """Milliseconds of CPU per request by group, over all of `runs`."""
    requests = max(sum(r.requests for r in runs), 1)
    return {g: 1e3 * sum(r.cpu[g] for r in runs) / requests for g in runs[0].cpu}
