"""The verification rules alone: pure functions, no database, HSM or clock (milliseconds)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hsm import HsmUnavailable
from server.domain.verification.rules import (
    CredentialState,
    Outcome,
    Result,
    VerifyPolicy,
    clamp_drift,
    decide,
    locked,
    lockout_seconds,
    window_counters,
)

NOW = 1_800_000_000.0  # step 30,000,000 of 60 s
POLICY = VerifyPolicy()
TOTP = CredentialState(
    id=1,
    public_id="cred_a",
    kind="totp",
    wrapped_seed=b"",
    kek_version=1,
    seed_length=20,
    algorithm="SHA1",
    digits=6,
    period=60,
    last_step=29_999_990,
    drift=0,
    locked_until=None,
)
HOTP = replace(TOTP, id=2, public_id="cred_b", kind="hotp", period=0, last_step=41)


def test_the_totp_window_is_the_expected_step_first_then_either_side() -> None:
    assert window_counters(TOTP, NOW, POLICY) == [30_000_000, 29_999_999, 30_000_001]
    drifted = replace(TOTP, drift=-2)
    assert window_counters(drifted, NOW, replace(POLICY, totp_window=2)) == [
        29_999_998,
        29_999_997,
        29_999_999,
        29_999_996,
        30_000_000,
    ]


def test_the_hotp_window_looks_ahead_from_the_last_counter() -> None:
    assert window_counters(HOTP, NOW, replace(POLICY, hotp_look_ahead=3)) == [42, 43, 44]


@pytest.mark.parametrize(
    ("step", "expected"), [(30_000_003, 3), (30_000_050, 10), (29_999_000, -10)]
)
def test_drift_is_learnt_up_to_the_limit(step: int, expected: int) -> None:
    assert clamp_drift(step, NOW, 60, max_drift=10) == expected


def test_lockout_starts_at_the_threshold_doubles_and_is_capped() -> None:
    policy = VerifyPolicy(lockout_threshold=5, lockout_base_seconds=60, lockout_max_seconds=600)
    assert lockout_seconds(4, 0, policy) is None
    assert [lockout_seconds(5, n, policy) for n in range(5)] == [60, 120, 240, 480, 600]


def test_locked_asks_to_wait_at_least_a_second() -> None:
    assert locked("cred_a", NOW + 0.2, NOW).retry_after == 1
    assert locked(None, NOW + 90.5, NOW) == Outcome(Result.LOCKED, "locked", None, 91)


def test_a_match_is_accepted_and_an_old_step_is_a_replay() -> None:
    jobs = [(TOTP, [30_000_000, 29_999_999, 30_000_001])]
    assert decide([TOTP], jobs, [30_000_001], None, NOW) == Outcome(
        Result.ACCEPTED, "match", "cred_a", step=30_000_001
    )
    assert decide([TOTP], jobs, [29_999_990], None, NOW).reason == "replay"


def test_no_match_is_a_wrong_code_of_the_first_credential() -> None:
    jobs = [(TOTP, [1]), (HOTP, [42])]
    assert decide([TOTP, HOTP], jobs, [None, None], None, NOW) == Outcome(
        Result.REJECTED, "wrong_code", "cred_a"
    )


def test_the_hsm_away_is_unavailable_never_rejected() -> None:
    away = HsmUnavailable("gone")
    outcome = decide([TOTP], [(TOTP, [1])], [away], None, NOW)
    assert (outcome.result, outcome.retry_after) == (Result.UNAVAILABLE, 1)


def test_locked_credentials_and_unknown_users() -> None:
    a = replace(TOTP, locked_until=NOW + 30)
    b = replace(HOTP, locked_until=NOW + 10)
    assert decide([a, b], [], [], None, NOW) == locked("cred_a", NOW + 10, NOW)
    assert decide([], [(None, [0])], [None], None, NOW).reason == "unknown_user"
    assert decide([], [], [], NOW + 5, NOW) == locked(None, NOW + 5, NOW)
