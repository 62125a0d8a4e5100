"""`benchmarks/token.py` runs and reports each figure with its same-run baseline."""

from __future__ import annotations

from benchmarks import token


def test_the_token_benchmark_reports_ratios() -> None:
    lines = token.run(0.01)
    text = "\n".join(lines)
    assert "key that changes nothing (baseline)" in text
    assert "vault unlock at that cost" in text
    assert sum("ratio" in line for line in lines) >= 5
