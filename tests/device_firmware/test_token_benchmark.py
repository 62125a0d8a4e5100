"""`benchmarks/token.py` runs and reports each figure with its same-run baseline."""

from __future__ import annotations

from benchmarks import token
from device_firmware.vault import Argon2Cost


def test_the_token_benchmark_reports_ratios() -> None:
    cheap = Argon2Cost(memory_kib=1024, iterations=1)  # the calibrated default takes ~1 s
    lines = token.run(0.01, argon2=cheap)
    text = "\n".join(lines)
    assert "key that changes nothing (baseline)" in text
    assert "vault unlock at that cost" in text
    assert "one Argon2id, m=1 MiB t=1 p=1" in text
    assert sum("ratio" in line for line in lines) >= 7
    search = lines[
        lines.index("Offline PIN search on a copy of the card, PINs per second per core") :
    ]
    assert "PINs tried, format 1: scrypt N=2**14 (baseline)" in search[1]
    assert "ratio" in search[2] and "Argon2id m=1 MiB t=1 p=1" in search[2]
    assert [line.split(":")[0] for line in search[3:]] == ["format 1", "format 2"]
    assert all("all 10,000 in" in line and "core-min" in line for line in search[3:])
