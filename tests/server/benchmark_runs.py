"""A benchmark run small enough for the test suite, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def tiny_run(module: str, rounds: int = 2, customers: int = 16_000) -> str:
    """What `benchmarks.<module>.run` reports for rounds of half a second. A process of its
    own: the suite points the PKCS#11 module at a token of its own, which this test
    session's module (already loaded) would not see."""
    code = (
        f"from benchmarks import {module}\n"
        f"print('\\n'.join({module}.run(0.5, rounds={rounds}, customers={customers})))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
