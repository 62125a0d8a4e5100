"""`benchmarks/signing.py` starts a server, sends it transfers approved with codes and
signed with responses in alternating turns, and reports both rates and their ratio."""

from __future__ import annotations

import re

import pytest

from tests.server.benchmark_runs import tiny_run

pytestmark = pytest.mark.slow  # a server under wrk: `make test` runs it, a plain `pytest` not


def test_a_tiny_signing_run_reports_both_rates_and_every_request_accepted() -> None:
    out = tiny_run("signing")
    rounds = re.findall(
        r"round +\d+: codes +[\d,]+ req/s [\d.]+ ms CPU/req, "
        r"signatures +[\d,]+ req/s [\d.]+ ms CPU/req, ratio \d+\.\d+",
        out,
    )
    assert len(rounds) == 2, out
    assert re.search(r"median of 2 rounds +ratio \d+\.\d+ +\(goal >= 0.8\)", out), out
    assert re.search(r"CPU time per request, codes / signatures, median +\d+\.\d+", out), out
    # 8,000 customers a round, each a code and a signature of its own: every request a
    # real acceptance (a signature the server refused would be counted as rejected)
    for kind in ("codes", "signatures"):
        line = re.search(rf"^  {kind}: (.*)$", out, re.MULTILINE)
        assert line, out
        assert "0 answers not 2xx and 0 socket errors" in line.group(1), out
        accepted = re.search(r"accepted ([\d,]+), rejected 0, other 0;", line.group(1))
        assert accepted, out
        assert int(accepted.group(1).replace(",", "")) > 0, out
