"""OTP computations per second through the HSM path, against pure-Python `hmac`.

One "verification" is the ±1 window: three HMACs and three truncations.
  - baseline: Python's `hmac` with the seed in memory (what a server without an HSM does);
  - HSM, no cache: unwrap the seed into a session object, three C_Sign, destroy;
  - HSM, handle cache: the unwrapped handle kept in the per-process LRU;
  - HSM floor: three C_Sign on a handle already unwrapped, no executor hop.

Then the verify path's own round (unwrap, one HMAC, destroy, on the PKCS#11 thread)
through `hsm.cryptoki` against the same round through python-pkcs11 (the baseline there).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.scratch_token import scratch_token
from benchmarks.timing import Rate, measure
from hsm import Algorithm, Hsm, HsmConfig, truncate
from hsm.cryptoki import handle_of
from hsm.seeds import HMAC_MECHANISMS


def run(seconds: float = 1.0) -> list[str]:
    """Measure on a new SoftHSM2 token and return the report lines."""
    with tempfile.TemporaryDirectory(prefix="bench-hsm-") as tmp:
        _, config = scratch_token(Path(tmp), "bench")
        return ["module: SoftHSM2", *_report(config, seconds)]


def run_nss(seconds: float = 1.0) -> list[str]:
    """The same on NSS softokn (the test suite's second PKCS#11 implementation)."""
    from tests.nss.module import create_nss_token  # a tester's tool: builds the shim

    with tempfile.TemporaryDirectory(prefix="bench-nss-") as tmp:
        token = create_nss_token(Path(tmp) / "db", secrets.token_hex(8))
        os.environ.update(token.env())
        config = HsmConfig(
            module=token.module,
            token_label=token.token_label,
            user_pin=token.user_pin,
            kek_without_officer=True,
        )
        return ["module: NSS softokn (through the test shim)", *_report(config, seconds)]


def _report(config: HsmConfig, seconds: float) -> list[str]:
    cached = Hsm(config)
    cached.ensure_keys()
    uncached = Hsm(replace(config, seed_cache_size=0))
    seed = os.urandom(20)
    wrapped = cached.import_seed(seed, Algorithm.SHA1)

    def python_hmac(i: int) -> None:
        for c in (i, i + 1, i + 2):
            truncate(hmac.new(seed, c.to_bytes(8, "big"), hashlib.sha1).digest(), 6)

    baseline = measure("pure-Python hmac, seed in memory (baseline)", python_hmac, seconds=seconds)
    results: list[Rate] = [
        measure(
            "HSM: unwrap + 3 HMAC + destroy (no cache)",
            lambda i: uncached.otp_values(wrapped, Algorithm.SHA1, 6, [i, i + 1, i + 2]),
            seconds=seconds,
        ),
        measure(
            "HSM: 3 HMAC with the handle cache",
            lambda i: cached.otp_values(wrapped, Algorithm.SHA1, 6, [i, i + 1, i + 2]),
            seconds=seconds,
        ),
    ]
    store = cached._seeds

    def floor() -> Rate:
        session = cached._conn.session()
        return measure(
            "HSM floor: 3 HMAC on the PKCS#11 thread, no hop",
            lambda i: store.otp_values(session, wrapped, Algorithm.SHA1, 6, [i, i + 1, i + 2]),
            seconds=seconds,
        )

    results.append(cached._executor.call(floor))

    def rounds() -> tuple[Rate, Rate]:
        session = cached._conn.session()

        def binding(i: int) -> None:
            obj = store.unwrap(session, wrapped)
            obj.sign(i.to_bytes(8, "big"), mechanism=HMAC_MECHANISMS[Algorithm.SHA1])
            obj.destroy()

        def direct(i: int) -> None:
            handle = store.unwrap_for_signing(session, wrapped)
            store.direct.sign(
                handle_of(session),
                handle,
                HMAC_MECHANISMS[Algorithm.SHA1],
                i.to_bytes(8, "big"),
            )
            store.direct.destroy(handle_of(session), handle)

        return (
            measure("python-pkcs11: unwrap + HMAC + destroy (baseline)", binding, seconds=seconds),
            measure(
                "direct calls (hsm.cryptoki): unwrap + HMAC + destroy", direct, seconds=seconds
            ),
        )

    through_binding, through_direct = cached._executor.call(rounds)
    cached.close()
    uncached.close()
    lines = ["OTP verifications (±1 window = 3 codes) per second, SHA-1, 6 digits", baseline.line()]
    lines += [r.line(baseline) for r in results]
    lines += [
        "a seed's round on the PKCS#11 thread, per second",
        through_binding.line(),
        through_direct.line(through_binding),
    ]
    return lines
