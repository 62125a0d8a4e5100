"""Random seeds, algorithms, digits and times: the HSM agrees with pyotp and oathtool."""

from __future__ import annotations

import random

import pytest

from hsm import (
    Algorithm,
    Hsm,
    InvalidSeedRequest,
    KeyNotFound,
    OtpJob,
    SeedRejected,
    WrappedSeed,
    totp_counter,
)
from tests.hsm.conftest import like
from tests.oracles import oathtool_hotp, oathtool_totp, pyotp_totp

CASES = 40


@pytest.mark.parametrize("case", range(CASES))
def test_random_seed_agrees_with_pyotp_and_oathtool(hsm: Hsm, case: int) -> None:
    rng = random.Random(case)
    algorithm = rng.choice(list(Algorithm))
    seed = rng.randbytes(rng.choice([16, 20, 26, 32, 48, 64, 100]))
    digits = rng.choice([6, 7, 8])
    period = rng.choice([30, 60])
    unix_time = rng.randrange(0, 4_102_444_800)  # up to the year 2100
    wrapped = hsm.import_seed(seed, algorithm)
    step = totp_counter(unix_time, period)
    ours = hsm.otp_values(wrapped, algorithm, digits, [step - 1, step, step + 1])
    for offset, code in zip((-1, 0, 1), ours, strict=True):
        at = unix_time + offset * period
        assert code == pyotp_totp(seed, algorithm.value, digits, period).at(at)
        assert code == oathtool_totp(seed, algorithm.value, digits, period, at)


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_generated_seed_has_the_hash_length_and_stable_codes(
    hsm: Hsm, algorithm: Algorithm
) -> None:
    wrapped = hsm.generate_seed(algorithm)
    assert wrapped.length == algorithm.seed_length
    assert wrapped.kek_version == 1
    first = hsm.otp_values(wrapped, algorithm, 6, range(5))
    assert hsm.otp_values(wrapped, algorithm, 6, range(5)) == first
    other = hsm.generate_seed(algorithm)
    assert hsm.otp_values(other, algorithm, 6, range(5)) != first


@pytest.mark.softhsm
def test_cache_on_and_off_give_the_same_codes(hsm: Hsm, tokens) -> None:  # type: ignore[no-untyped-def]
    uncached = Hsm(like(hsm, seed_cache_size=0))
    wrapped = hsm.generate_seed(Algorithm.SHA256)
    assert uncached.otp_values(wrapped, Algorithm.SHA256, 8, range(20)) == hsm.otp_values(
        wrapped, Algorithm.SHA256, 8, range(20)
    )
    assert uncached.status().cached_seed_handles == 0


@pytest.mark.softhsm
def test_cache_is_bounded(tokens) -> None:  # type: ignore[no-untyped-def]
    small = Hsm(tokens.config(seed_cache_size=3))
    seeds = [small.generate_seed(Algorithm.SHA1) for _ in range(6)]
    codes = [small.otp_values(s, Algorithm.SHA1, 6, [7]) for s in seeds]
    assert small.status().cached_seed_handles == 3
    # evicted seeds still work (unwrapped again)
    assert [small.otp_values(s, Algorithm.SHA1, 6, [7]) for s in seeds] == codes


@pytest.mark.parametrize("length", [0, 15, 129])
def test_seed_length_outside_the_rfc_bounds_is_refused(hsm: Hsm, length: int) -> None:
    with pytest.raises(InvalidSeedRequest, match="16 to 128 bytes"):
        hsm.import_seed(b"\x01" * length, Algorithm.SHA1)


def test_an_80_bit_seed_only_under_the_short_seed_policy(hsm: Hsm) -> None:
    seed = bytes.fromhex("3132333435363738393a")
    with pytest.raises(InvalidSeedRequest, match="explicit short-seed policy"):
        hsm.import_seed(seed, Algorithm.SHA1)
    wrapped = hsm.import_seed(seed, Algorithm.SHA1, allow_short=True)
    assert hsm.otp_values(wrapped, Algorithm.SHA1, 6, [1]) == [oathtool_hotp(seed, 6, 1)]
    with pytest.raises(InvalidSeedRequest, match="10 to 128 bytes"):
        hsm.import_seed(seed[:9], Algorithm.SHA1, allow_short=True)


def test_a_seed_too_long_is_not_told_about_the_short_seed_policy(hsm: Hsm) -> None:
    with pytest.raises(InvalidSeedRequest) as refused:
        hsm.import_seed(b"\x01" * 129, Algorithm.SHA1)
    assert "short-seed" not in str(refused.value)


@pytest.mark.parametrize("digits", [5, 9])
def test_digits_outside_6_to_8_are_refused(hsm: Hsm, digits: int) -> None:
    wrapped = hsm.generate_seed(Algorithm.SHA1)
    with pytest.raises(InvalidSeedRequest, match="6 to 8 digits"):
        hsm.otp_values(wrapped, Algorithm.SHA1, digits, [1])


def test_many_jobs_in_one_call_agree_with_pyotp_and_fail_one_by_one(hsm: Hsm) -> None:
    """The verify API's batched call: each job gets its own values, or its own error."""
    rng = random.Random(7)
    cases = []
    for _ in range(12):
        algorithm = rng.choice(list(Algorithm))
        seed = rng.randbytes(rng.choice([16, 20, 32, 64]))
        cases.append((seed, algorithm, rng.choice([6, 7, 8]), rng.randrange(1, 2**27)))
    good = [
        OtpJob(hsm.import_seed(seed, algorithm), algorithm, digits, [step, step + 1])
        for seed, algorithm, digits, step in cases
    ]
    altered = WrappedSeed(bytes([good[0].seed.blob[0] ^ 1]) + good[0].seed.blob[1:], 1, 20)
    bad = [
        OtpJob(altered, Algorithm.SHA1, 6, [1]),
        OtpJob(WrappedSeed(good[1].seed.blob, 99, 20), Algorithm.SHA1, 6, [1]),
        OtpJob(good[2].seed, Algorithm.SHA1, 9, [1]),
    ]
    answers = hsm.otp_values_many([*good[:6], *bad, *good[6:]])
    assert isinstance(answers[6], SeedRejected)
    assert isinstance(answers[7], KeyNotFound)
    assert isinstance(answers[8], InvalidSeedRequest)
    values = answers[:6] + answers[9:]
    for (seed, algorithm, digits, step), codes in zip(cases, values, strict=True):
        totp = pyotp_totp(seed, algorithm.value, digits, 30)
        assert codes == [totp.at(step * 30), totp.at((step + 1) * 30)]
    assert hsm.otp_values_many([]) == []


def test_find_codes_names_the_first_counter_whose_value_is_the_code(hsm: Hsm) -> None:
    rng = random.Random(11)
    jobs, expected = [], []
    for i in range(12):
        algorithm = rng.choice(list(Algorithm))
        seed = rng.randbytes(rng.choice([16, 20, 32, 64]))
        digits = rng.choice([6, 7, 8])
        counters = [rng.randrange(1, 2**27) for _ in range(rng.choice([1, 3, 10]))]
        totp = pyotp_totp(seed, algorithm.value, digits, 30)
        if i % 3 == 0:  # a code that is in no window
            code, found = ("0" * digits, None)
            if any(totp.at(c * 30) == code for c in counters):
                continue
        else:
            found = rng.choice(counters)
            code = totp.at(found * 30)
            # a counter earlier in the order with the same value would be found instead
            found = next(c for c in counters if totp.at(c * 30) == code)
        jobs.append(OtpJob(hsm.import_seed(seed, algorithm), algorithm, digits, counters, code))
        expected.append(found)
    assert hsm.find_codes(jobs) == expected
    assert None in expected
    assert "code" not in repr(jobs[0]) and jobs[0].code not in repr(jobs[0])
    missing = hsm.find_codes([OtpJob(jobs[0].seed, Algorithm.SHA1, 6, [1])])
    assert isinstance(missing[0], InvalidSeedRequest)
