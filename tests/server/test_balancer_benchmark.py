"""`benchmarks/balancer.py` starts PostgreSQL, two servers and two HAProxies, takes turns
through both balancers and reports the ratio, the answers and the CPU split."""

from __future__ import annotations

import re

import pytest

from tests.server.benchmark_runs import tiny_run

pytestmark = pytest.mark.slow  # processes and balancers: `make test` runs it, a plain `pytest` not


def test_a_tiny_balancer_run_reports_both_setups_and_where_the_cpu_went() -> None:
    out = tiny_run("balancer")
    rounds = re.findall(r"round +\d+: 1 server +[\d,]+ req/s, 2 servers +[\d,]+ req/s", out)
    assert len(rounds) == 2, out
    assert re.search(r"median of 2 rounds +ratio \d+\.\d+ +\(goal >= 1.6\)", out), out
    # 4,000 fresh codes a turn of 1 s: every request is a real acceptance
    for setup in ("1 server", "2 servers"):
        line = re.search(rf"  {setup}: (.*)", out)
        assert line, out
        assert "0 answers not 2xx and 0 socket errors" in line.group(1), out
        assert re.search(r"rejected 0, other 0", line.group(1)), out
    groups = ("wrk", "server 0", "server 1", "haproxy", "postgres", "all of", "everything else")
    for group in groups:
        assert re.search(rf"^  {group}.* +-?\d+\.\d+ +-?\d+\.\d+$", out, re.MULTILINE), out
    assert re.search(r"2 servers at most [\d,]+ req/s here \(\d+ CPUs", out), out
