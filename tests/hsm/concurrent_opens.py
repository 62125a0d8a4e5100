"""Several processes opening one SoftHSM token at the same time: how many opens fail.

Not part of the suite (its result is a rate, not a yes or no). Each login rewrites the
token's flags, and a SoftHSM that reads the token meanwhile drops it until the module is
initialised again; `hsm.connection` then initialises it again, after short pauses.

    .venv/bin/python -m tests.hsm.concurrent_opens --processes 4 --opens 150
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from softhsm_config import SOFTHSM_MODULE, SoftHsmToken, create_token


def _opens(label: str, pin: str, count: int, retry: bool, start: Any, results: Any) -> None:
    # imported in the child: each process loads its own module
    import structlog

    from hsm import HsmConfig, HsmUnavailable, connection
    from hsm.connection import Connection

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    if not retry:
        connection._REINITIALISING_PAUSES = ()  # one look at the token, as before

    conn = Connection(
        HsmConfig(
            module=SOFTHSM_MODULE,
            token_label=label,
            user_pin=pin,
            reconnect_interval=0.0,
        )
    )
    failures: Counter[str] = Counter()
    start.wait()
    for _ in range(count):
        try:
            conn.session()
        except HsmUnavailable as exc:
            failures[str(exc).split(" (")[0]] += 1
        conn.reset(hard=True)  # the next open starts as a new process would
    results.put(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--opens", type=int, default=150, help="opens per process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otp-opens-") as tmp:
        token = create_token(Path(tmp) / "hsm", "opens", secrets_dir=Path(tmp) / "secrets")
        os.environ.update(token.env)
        for retry in (False, True):
            _run(token, args.processes, args.opens, retry)


def _run(token: SoftHsmToken, processes: int, opens: int, retry: bool) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(
            target=_opens, args=(token.label, token.user_pin(), opens, retry, start, results)
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total: Counter[str] = sum((results.get() for _ in workers), Counter())
    for worker in workers:
        worker.join()
    failed, tried = sum(total.values()), processes * opens
    how = "initialising again when the token is unseen" if retry else "one look at the token"
    print(f"{how}: {failed} of {tried} opens failed ({failed / tried:.1%})")
    for reason, count in total.items():
        print(f"  {count}: {reason}")


if __name__ == "__main__":
    main()
