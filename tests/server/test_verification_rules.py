"""The verification rules alone: pure functions, no database, HSM or clock (milliseconds)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hsm import HsmUnavailable
from server.domain.verification.rules import (
    YEAR,
    CredentialState,
    GuessBudget,
    Outcome,
    Result,
    VerifyPolicy,
    VerifyRequest,
    clamp_drift,
    codes_per_guess,
    context_key,
    decide,
    familiar,
    guess_budget,
    locked,
    pool_key,
    success_per_year,
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


def test_a_budget_refills_evenly_up_to_its_capacity() -> None:
    budget = GuessBudget(capacity=5, per_second=1 / 3600)
    assert budget.level(None, None, NOW) == 5  # never written: full
    assert budget.level(0.0, NOW, NOW) == 0
    assert budget.level(0.0, NOW - 1800, NOW) == pytest.approx(0.5)
    assert budget.level(4.0, NOW - 10 * 3600, NOW) == 5  # capped
    assert budget.wait(0.5) == pytest.approx(1800)
    assert budget.wait(1.0) == 0
    assert GuessBudget(5, 0).wait(0) == YEAR  # no refill: a year is "not soon"


@pytest.mark.parametrize(
    ("kind", "digits", "window"), [("totp", 6, 3), ("hotp", 6, 10), ("totp", 8, 3)]
)
def test_the_budgets_are_cut_to_the_yearly_goal(kind: str, digits: int, window: int) -> None:
    """All pools spent at the fastest pace the rule allows, for a year, stay within the
    1 % goal: burst + a year's trickle, times the pools, times one guess's chance."""
    assert codes_per_guess(kind, POLICY) == window
    budget = guess_budget(kind, digits, POLICY)
    assert budget.capacity == POLICY.guess_burst
    guesses_a_year = 2 * (budget.capacity + budget.per_second * YEAR)
    assert success_per_year(kind, digits, POLICY, guesses_a_year) == pytest.approx(0.01)
    assert success_per_year(kind, digits, POLICY, guesses_a_year + 10) > 0.01


def test_six_digit_totp_gets_about_four_guesses_a_day_per_pool() -> None:
    per_day = guess_budget("totp", 6, POLICY).per_second * 86400
    assert 4.5 < per_day < 4.6  # (1666.7 - 5) / 365
    assert guess_budget("hotp", 6, POLICY).per_second * 86400 == pytest.approx(1.356, abs=0.01)


def test_pools_follow_the_password_check_and_contexts_are_kept_as_digests() -> None:
    anonymous = VerifyRequest("ana", "123456", "login", "netbank")
    checked = replace(anonymous, authenticated=True)
    assert pool_key(7, "ana", anonymous) == "c7:anonymous"
    assert pool_key(7, "ana", checked) == "c7:authenticated"
    assert pool_key(None, "ana", anonymous) == "u:ana:anonymous"
    key = context_key(7, "device-cookie-0123456789abcdef")
    assert key.startswith("c7:context:") and "cookie" not in key
    assert key != context_key(8, "device-cookie-0123456789abcdef")


def test_a_context_is_familiar_for_ninety_days_after_a_success() -> None:
    assert not familiar(None, NOW, POLICY)
    assert familiar(NOW - 89 * 86400, NOW, POLICY)
    assert not familiar(NOW - 91 * 86400, NOW, POLICY)


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
