"""KEK rotation: credentials re-wrapped per second, against the HSM floor of the same run.

  - HSM floor: `Hsm.rewrap_seeds` on the same wrapped seeds in batches of 200, without a
    database: one unwrap and one wrap per credential inside the HSM, one hop to the PKCS#11
    thread per batch. No rotation can beat it.
  - rotation: what `otp-admin keys rotate` runs (`KeyRotation.start` + `run`) over the same
    number of credentials in a SQLite file: the same HSM work, plus reading each batch, one
    conditional UPDATE per row, one audit event per batch, and a commit per batch.

The ratio says how much of the HSM's rate the rotation keeps (1.0 = the database is free).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.population import populate, seed_pool
from benchmarks.scratch_token import scratch_token
from benchmarks.timing import Rate
from hsm import Hsm
from server.db.engine import Database
from server.db.migrate import upgrade
from server.domain.audit.service import AuditLog
from server.domain.keys.rotation import KeyRotation
from server.domain.keys.rules import DEFAULT_BATCH

POOL = 500
ROUNDS = 3


def _rate(name: str, count: int, durations: list[float]) -> Rate:
    rates = [count / d for d in durations]
    return Rate(name, statistics.median(rates), min(rates), max(rates))


def run(seconds: float = 1.0) -> list[str]:
    """Measure and return the report lines (`seconds` scales the number of credentials)."""
    count = max(2_000, int(5_000 * seconds))
    with tempfile.TemporaryDirectory(prefix="bench-rotation-") as tmp:
        base = Path(tmp)
        _, config = scratch_token(base, "bench-rotation")
        hsm = Hsm(config)
        hsm.ensure_keys()
        pool = seed_pool(hsm, POOL)
        seeds = [pool[i % POOL][1] for i in range(count)]

        floor_target = hsm.create_kek()
        floor: list[float] = []
        rotation: list[float] = []
        # Rounds alternate floor and rotation, so that a noisy neighbour hits both alike.
        for round_ in range(ROUNDS):
            started = time.perf_counter()
            for i in range(0, count, DEFAULT_BATCH):
                hsm.rewrap_seeds(seeds[i : i + DEFAULT_BATCH], to_version=floor_target)
            floor.append(time.perf_counter() - started)

            url = f"sqlite:///{base}/rotation{round_}.sqlite3"
            upgrade(url)
            populate(url, pool, count)
            db = Database.from_url(url)
            keys = KeyRotation(db, hsm, AuditLog(hsm, time.time), time.time)
            started = time.perf_counter()
            report = keys.run(keys.start("officer:bench"), "officer:bench")
            rotation.append(time.perf_counter() - started)
            db.dispose()
            if report.rewrapped != count:
                raise RuntimeError(f"rotation re-wrapped {report.rewrapped} of {count}")
        hsm.close()

    floor_rate = _rate("HSM floor: rewrap_seeds (unwrap + wrap), no database", count, floor)
    rotation_rate = _rate("rotation: HSM + SQLite conditional UPDATEs + audit", count, rotation)
    return [
        f"KEK rotation, {count:,} credentials, batches of {DEFAULT_BATCH}, "
        f"median of {ROUNDS} rounds (credentials/second)",
        floor_rate.line(),
        rotation_rate.line(floor_rate),
    ]
