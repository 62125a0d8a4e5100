"""What a server process sets up for itself once its app is built."""

from __future__ import annotations

import json
import subprocess
import sys

from server.app import GC_YOUNG_THRESHOLD


def test_settling_freezes_the_startup_objects_and_raises_the_young_threshold() -> None:
    # in a child process: the test process's own collector must stay as it is
    script = (
        "import gc, json\n"
        "from server.app import settle_process\n"
        "before = (gc.get_threshold(), gc.get_freeze_count())\n"
        "settle_process()\n"
        "print(json.dumps([before, (gc.get_threshold(), gc.get_freeze_count())]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    (before_threshold, before_frozen), (after_threshold, after_frozen) = json.loads(out)
    assert before_frozen == 0
    assert after_frozen > 10_000  # the modules and libraries loaded so far
    assert after_threshold == [GC_YOUNG_THRESHOLD, *before_threshold[1:]]
