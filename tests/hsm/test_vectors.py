"""RFC 4226 and RFC 6238 test vectors through the HSM path, pyotp and oathtool."""

from __future__ import annotations

import pytest

from hsm import Algorithm, Hsm, totp_counter
from tests.oracles import RFC_SEEDS, load_vectors, oathtool_hotp, oathtool_totp, pyotp_totp

HOTP = load_vectors("rfc4226-hotp.txt")
TOTP = load_vectors("rfc6238-totp.txt")


def test_vector_files_are_complete() -> None:
    assert len(HOTP) == 10
    assert len(TOTP) == 18


@pytest.mark.parametrize(("counter", "expected"), HOTP)
def test_rfc4226_hotp_through_the_hsm(hsm: Hsm, counter: str, expected: str) -> None:
    wrapped = hsm.import_seed(RFC_SEEDS["SHA1"], Algorithm.SHA1)
    assert hsm.otp_values(wrapped, Algorithm.SHA1, 6, [int(counter)]) == [expected]
    assert oathtool_hotp(RFC_SEEDS["SHA1"], 6, int(counter)) == expected


@pytest.mark.parametrize(("unix_time", "mode", "expected"), TOTP)
def test_rfc6238_totp_through_the_hsm(hsm: Hsm, unix_time: str, mode: str, expected: str) -> None:
    algorithm = Algorithm.parse(mode)
    seed = RFC_SEEDS[mode]
    wrapped = hsm.import_seed(seed, algorithm)
    step = totp_counter(int(unix_time), 30)
    assert hsm.otp_values(wrapped, algorithm, 8, [step]) == [expected]
    assert pyotp_totp(seed, mode, 8, 30).at(int(unix_time)) == expected
    assert oathtool_totp(seed, mode, 8, 30, int(unix_time)) == expected


def test_whole_hotp_sequence_in_one_call(hsm: Hsm) -> None:
    wrapped = hsm.import_seed(RFC_SEEDS["SHA1"], Algorithm.SHA1)
    assert hsm.otp_values(wrapped, Algorithm.SHA1, 6, range(10)) == [v for _, v in HOTP]
