"""Many threads at once: every PKCS#11 call is serialised, so nothing crashes or mixes up."""

from __future__ import annotations

import random
import threading
import time

import pytest

from hsm import Algorithm, Hsm, totp_counter
from tests.oracles import pyotp_totp

THREADS = 8
SECONDS = 3.0


@pytest.mark.slow
def test_eight_threads_for_a_few_seconds_all_results_right(hsm: Hsm) -> None:
    rng = random.Random(8)
    credentials = []
    for _ in range(16):
        algorithm = rng.choice(list(Algorithm))
        seed = rng.randbytes(algorithm.seed_length)
        credentials.append((seed, algorithm, hsm.import_seed(seed, algorithm)))
    generated = [hsm.generate_seed(Algorithm.SHA1) for _ in range(4)]
    expected_generated = [hsm.otp_values(g, Algorithm.SHA1, 6, range(3)) for g in generated]

    errors: list[str] = []
    counts = [0] * THREADS
    deadline = time.monotonic() + SECONDS

    def worker(index: int) -> None:
        local = random.Random(index)
        while time.monotonic() < deadline:
            seed, algorithm, wrapped = local.choice(credentials)
            unix_time = local.randrange(0, 2_000_000_000)
            step = totp_counter(unix_time, 60)
            try:
                codes = hsm.otp_values(wrapped, algorithm, 6, [step - 1, step, step + 1])
                oracle = pyotp_totp(seed, algorithm.value, 6, 60)
                want = [oracle.at(unix_time + d * 60) for d in (-1, 0, 1)]
                if codes != want:
                    errors.append(f"thread {index}: {codes} != {want}")
                g = local.randrange(len(generated))
                if (
                    hsm.otp_values(generated[g], Algorithm.SHA1, 6, range(3))
                    != (expected_generated[g])
                ):
                    errors.append(f"thread {index}: generated seed {g} changed")
                if local.random() < 0.05:  # writes too, not only reads
                    hsm.generate_seed(algorithm)
            except Exception as exc:
                errors.append(f"thread {index}: {exc!r}")
            counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(c > 10 for c in counts), counts
