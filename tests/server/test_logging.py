"""Structured logs: JSON lines at the configured level, in a process of their own (the
test suite's own logging stays as the fixtures set it)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROGRAM = """
import logging, structlog
from server.logging import configure_logging
configure_logging("json", "warning")
log = structlog.get_logger("server.test")
log.info("hidden.structlog", n=1)
logging.getLogger("server.std").info("hidden.stdlib")
log.warning("shown.structlog", n=2)
logging.getLogger("server.std").error("shown.stdlib")
"""


def test_events_below_the_level_are_dropped_and_the_rest_are_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [
        ("shown.structlog", "warning"),
        ("shown.stdlib", "error"),
    ]
    assert lines[0]["n"] == 2 and lines[0]["logger"] == "server.test"
    assert all("timestamp" in line for line in lines)
