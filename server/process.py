"""What a server process does to itself once its app is built: settle the garbage
collector, and (when told) keep every thread on one CPU."""

from __future__ import annotations

import gc
import os
from pathlib import Path

GC_YOUNG_THRESHOLD = 10_000


def settle_process() -> None:
    """For a server process, once its app is built: move everything alive now (modules,
    the app, the libraries' caches) out of the garbage collector's sight, and collect the
    youngest generation after 10,000 allocations instead of 700.

    Under verify load the default settings spent ~1.4% of the time in collections, and a
    full collection walked ~140,000 startup objects while holding the GIL (118 ms once,
    every request waiting). With these: ~0.2%, and a full collection walks only what was
    made since startup. Objects are still freed by reference counting as before.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def pin_to_cpu(cpu: int) -> None:
    """Keep every thread of this process, and those it starts later, on CPU `cpu`.

    The server's threads (event loop, verify stages, PKCS#11) hand the GIL to each other
    many times per request. On different CPUs each hand-over wakes the other core and
    moves the interpreter's data between caches: under verify load one unpinned process
    used 1.3-1.6 ms of CPU per request, pinned 0.9-1.1 ms, on the same machine minutes
    apart (`python -m benchmarks verify` shows both). The process never uses much more than
    one core anyway (the GIL), so with one process per core nothing is lost.

    Raises:
        ValueError: this process may not run on `cpu` (not present, or outside its cgroup
            or affinity mask).
    """
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        raise ValueError(
            f"CPU {cpu} is not available to this process "
            f"(it may use {', '.join(str(c) for c in sorted(allowed))})"
        )
    for task in Path("/proc/self/task").iterdir():  # the threads started already
        try:
            os.sched_setaffinity(int(task.name), {cpu})
        except ProcessLookupError:
            pass  # the thread ended meanwhile
    os.sched_setaffinity(0, {cpu})
