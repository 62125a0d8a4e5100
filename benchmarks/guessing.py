"""The two figures of the guessing rule (docs/design.md §4), played for a year on a clock of
its own against the real verification service (SoftHSM, SQLite).

1. **The attacker's chance in a year.** An attacker who has the customer's password sends
   wrong codes in both pools (with and without the password checked) as fast as the rule
   evaluates them: after each `locked`, exactly the wait it names. Every guess the HSM
   checks is counted; with a ±1-step window a guess matches one of 3 codes in 10**6, so the
   chance is the count times 3e-6 (a union bound). The goal is at most 1 %.
2. **How long the customer is kept out.** Meanwhile the customer logs in three times a day
   from her own device (the bank's context for it) with her password: how many of her right
   codes are accepted, and the longest she waited.

Baseline, same run, from the rule it replaced (5 failures lock, the lock doubling up to an
hour and never decaying; evaluated: 5 guesses an hour at best): the chance it allowed in a
year, and the ratio.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
from pathlib import Path

import pyotp

from benchmarks.scratch_token import scratch_token
from hsm import Hsm
from server.app import create_app
from server.db.migrate import upgrade
from server.domain.credentials.rules import SeedImport
from server.domain.verification.rules import (
    YEAR,
    Result,
    VerifyRequest,
    success_per_year,
)
from server.services import Services
from server.settings import Settings

DAY = 86400.0
DEVICE = "device-cookie-0f9e8d7c6b5a4938"
LOGINS_A_DAY = 3
OLD_RULE_GUESSES_A_YEAR = 5 * 24 * 365  # 5 failures, then a lock of (at best) one hour


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def run(seconds: float = 1.0, days: int = 365, *, hsm: Hsm | None = None) -> list[str]:
    """Play `days` of the attack (the `seconds` of other suites does not apply). Without
    `hsm`, on a SoftHSM token of its own (this process's PKCS#11 module is then its)."""
    del seconds
    with tempfile.TemporaryDirectory(prefix="bench-guessing-") as scratch:
        tmp = Path(scratch)
        if hsm is not None:
            return _on(hsm, tmp, days)
        _, config = scratch_token(
            tmp, "bench-guessing", accepted_weaknesses=frozenset({"key-store-readable"})
        )
        own = Hsm(config)
        try:
            own.ensure_keys()
            return _on(own, tmp, days)
        finally:
            own.close()


def _on(hsm: Hsm, tmp: Path, days: int) -> list[str]:
    url = f"sqlite:///{tmp}/otp.sqlite3"
    upgrade(url)
    clock = _Clock()
    settings = Settings(
        database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1
    )
    services: Services = create_app(settings, hsm=hsm, clock=clock).state.services
    try:
        return _year(services, clock, days)
    finally:
        services.db.dispose()


def _year(services: Services, clock: _Clock, days: int) -> list[str]:
    seed = secrets.token_bytes(20)
    with services.db.transaction() as session:
        customer = services.customers.add(session, "ana", "ana@example.com", "clave de ana 1")
        services.credentials.import_seed(session, customer, SeedImport(seed=seed), "bench")
    totp = pyotp.TOTP(base64.b32encode(seed).decode(), interval=60)
    verify = services.verification.verify

    def ask(code: str, **how: object) -> tuple[Result, str, int]:
        outcome = verify(VerifyRequest("ana", code, "login", "bench", **how))  # type: ignore[arg-type]
        return outcome.result, outcome.reason, outcome.retry_after or 0

    ask(totp.at(clock()), authenticated=True, context=DEVICE)  # her device, once, before
    start = clock.now
    end = start + days * DAY
    evaluated = 0
    next_login = start + 3600.0
    logins = accepted = 0
    longest_wait = 0.0
    ready = {False: start, True: start}  # when each pool has a guess again
    while clock.now < end:
        pool = min(ready, key=lambda p: ready[p])
        clock.now = max(clock.now, min(ready[pool], next_login))
        if clock.now >= next_login:
            logins += 1
            result, _, wait = ask(totp.at(clock()), authenticated=True, context=DEVICE)
            accepted += result is Result.ACCEPTED
            longest_wait = max(longest_wait, float(wait))
            next_login += DAY / LOGINS_A_DAY
            continue
        wrong = "000000" if totp.at(clock()) != "000000" else "111111"
        result, reason, wait = ask(wrong, authenticated=pool)
        if reason in ("wrong_code", "wrong_code_locked"):
            evaluated += 1
        ready[pool] = clock.now + max(wait, 1) if result is Result.LOCKED else clock.now + 1
    policy = services.verification.policy
    bursts = 2 * policy.guess_burst  # spent once, at the start; the rest trickles evenly
    a_year = bursts + (evaluated - bursts) * YEAR / (days * DAY)
    chance = success_per_year("totp", 6, policy, a_year)
    old = success_per_year("totp", 6, policy, OLD_RULE_GUESSES_A_YEAR)
    return [
        f"attacker with the password, {days} days at the fastest pace: {evaluated:,} guesses "
        f"evaluated -> chance in a year {chance:.3%} (goal <= "
        f"{policy.guess_success_per_year:.0%})",
        f"baseline, the replaced lock-out rule: {OLD_RULE_GUESSES_A_YEAR:,} guesses a year -> "
        f"{old:.1%}; ratio {chance / old:.3f}",
        f"customer from her device, {LOGINS_A_DAY} logins a day during the attack: "
        f"{accepted}/{logins} accepted, longest wait {longest_wait:.0f} s",
    ]
