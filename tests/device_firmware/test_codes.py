"""Codes: pyotp with explicit time, checked against RFC 6238 vectors and oathtool."""

from __future__ import annotations

import random

import pytest

from device_firmware.core.codes import code_at, grouped, seconds_left
from device_firmware.core.records import Algorithm, Credential
from tests.oracles import RFC_SEEDS, load_vectors, oathtool_totp, pyotp_totp


def credential(
    seed: bytes, algorithm: str = "SHA1", digits: int = 6, period: int = 60
) -> Credential:
    return Credential(
        credential_id="c1",
        issuer="Banco",
        username="ana",
        display_name="Ana",
        seed=seed,
        algorithm=Algorithm(algorithm),
        digits=digits,
        period=period,
    )


@pytest.mark.parametrize("row", load_vectors("rfc6238-totp.txt"), ids=lambda r: "-".join(r))
def test_rfc6238_vectors(row: list[str]) -> None:
    # rows: unix_time, algorithm, 8-digit code (RFC 6238 Appendix B, 30-second step)
    unix_time, algorithm, expected = int(row[0]), row[1], row[-1]
    cred = credential(RFC_SEEDS[algorithm], algorithm, digits=8, period=30)
    assert code_at(cred, unix_time) == expected


def test_codes_equal_pyotp_and_oathtool_for_random_seeds_and_times() -> None:
    rng = random.Random(6238)
    for _ in range(12):
        seed = rng.randbytes(20)
        unix_time = rng.randrange(1_000_000_000, 4_000_000_000)
        cred = credential(seed)
        ours = code_at(cred, unix_time + rng.random())  # fractions of a second do not matter
        assert ours == pyotp_totp(seed, "SHA1", 6, 60).at(unix_time)
        assert ours == oathtool_totp(seed, "SHA1", 6, 60, unix_time)


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA512"])
def test_other_algorithms_match_oathtool(algorithm: str) -> None:
    seed = RFC_SEEDS[algorithm]
    cred = credential(seed, algorithm, digits=8)
    for unix_time in (59, 1_111_111_109, 2_000_000_000):
        assert code_at(cred, unix_time) == oathtool_totp(seed, algorithm, 8, 60, unix_time)


def test_seconds_left_counts_down_the_step() -> None:
    assert seconds_left(60, 1_800_000_000.0) == 60  # exactly at a boundary
    assert seconds_left(60, 1_800_000_000.5) == 60
    assert seconds_left(60, 1_800_000_001.0) == 59
    assert seconds_left(60, 1_800_000_059.2) == 1
    assert seconds_left(30, 1_800_000_029.0) == 1


def test_grouped() -> None:
    assert grouped("123456") == "123 456"
    assert grouped("12345678") == "1234 5678"
    assert grouped("1234567") == "1234 567"
