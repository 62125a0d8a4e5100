"""`benchmarks/signing.py` starts a server, sends it transfers approved with codes and
signed with responses in alternating turns, and reports both rates and their ratio."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a server under wrk: `make test` runs it, a plain `pytest` not

ROOT = Path(__file__).parents[2]
TINY_RUN = (
    "from benchmarks import signing\n"
    "print('\\n'.join(signing.run(0.5, rounds=2, customers=16_000)))\n"
)


def test_a_tiny_signing_run_reports_both_rates_and_every_request_accepted() -> None:
    # a process of its own: the suite points the PKCS#11 module at a token of its own,
    # which this test session's module (already loaded) would not see
    out = subprocess.run(
        [sys.executable, "-c", TINY_RUN],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
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
