"""`benchmarks/guessing.py` plays the attack on its own clock and prints the two figures."""

from __future__ import annotations

import re

from benchmarks import guessing
from hsm import Hsm


def test_the_guessing_benchmark_reports_the_chance_and_the_customers_logins(hsm: Hsm) -> None:
    attacker, baseline, customer = guessing.run(days=4, hsm=hsm)
    evaluated = int(re.search(r": ([\d,]+) guesses evaluated", attacker).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 10 + 4 * 2 * 4 <= evaluated <= 10 + 4 * 2 * 5  # two bursts, ~4.5 a day per pool
    chance = float(re.search(r"chance in a year ([\d.]+)%", attacker).group(1))  # type: ignore[union-attr]
    assert 0.9 <= chance <= 1.05
    assert "13.1%" in baseline and "ratio 0.0" in baseline
    assert re.search(r": (1[23])/\1 accepted, longest wait 0 s", customer), customer
