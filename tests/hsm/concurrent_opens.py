"""Several processes opening one SoftHSM token at the same time: how many opens fail.

Each login rewrites the token's flags, and a SoftHSM that reads the token meanwhile drops
it until the module is initialised again; `hsm.connection` then initialises it again, after
short pauses. Run as a script, both ways in one run (a rate, for the notes):

    .venv/bin/python -m tests.hsm.concurrent_opens --processes 4 --opens 150

`test_unavailable.py` runs it smaller, with a bound on the failures.
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


def failed_opens(
    token: SoftHsmToken, processes: int, opens: int, *, retry: bool = True
) -> Counter[str]:
    """Start `processes` processes together, each opening `token` `opens` times (each
    time from a module initialised afresh, as a new process would); the reasons of the
    opens that failed, counted. Without `retry`, each open looks for the token once."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    args = (str(token.conf_path), token.label, token.user_pin(), opens, retry, start, results)
    workers = [context.Process(target=_opens, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        if worker.exitcode != 0:
            raise RuntimeError(f"an opening process ended with {worker.exitcode}")
    return sum((results.get(timeout=10) for _ in workers), Counter())


def _opens(
    conf: str, label: str, pin: str, count: int, retry: bool, start: Any, results: Any
) -> None:
    os.environ["SOFTHSM2_CONF"] = conf  # before the module is loaded, in this process
    import structlog

    from hsm import HsmConfig, HsmUnavailable, connection

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    if not retry:
        connection._REINITIALISING_PAUSES = ()  # one look at the token, as before
    conn = connection.Connection(
        HsmConfig(module=SOFTHSM_MODULE, token_label=label, user_pin=pin, reconnect_interval=0.0)
    )
    failures: Counter[str] = Counter()
    start.wait()
    for _ in range(count):
        try:
            conn.session()
        except HsmUnavailable as exc:
            failures[str(exc).split(" (")[0]] += 1
        conn.reset(hard=True)
    results.put(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--opens", type=int, default=150, help="opens per process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otp-opens-") as tmp:
        token = create_token(Path(tmp) / "hsm", "opens", secrets_dir=Path(tmp) / "secrets")
        for retry in (False, True):
            total = failed_opens(token, args.processes, args.opens, retry=retry)
            failed, tried = sum(total.values()), args.processes * args.opens
            how = "initialising again when the token is unseen" if retry else "one look"
            print(f"{how}: {failed} of {tried} opens failed ({failed / tried:.1%})")
            for reason, count in total.items():
                print(f"  {count}: {reason}")


if __name__ == "__main__":
    main()
