"""Device ID: derivation from the public key, Verhoeff check digit, grouping, parsing."""

from __future__ import annotations

import hashlib
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device_firmware.core import InvalidRecord, device_id


def spki(private_value: int) -> bytes:
    key = ec.derive_private_key(private_value, ec.SECP256R1())
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def random_ids(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [device_id.make(rng.randbytes(91)) for _ in range(count)]


def test_vector_from_the_module_docstring() -> None:
    der = spki(1)
    assert hashlib.sha256(der).hexdigest().startswith("5cd252fb0ce8")
    assert device_id.make(der) == "1020584050721040"
    assert device_id.format(device_id.make(der)) == "1020 5840 5072 1040"


@pytest.mark.parametrize(
    ("body", "check"),
    [("236", "3"), ("12345", "1"), ("142857", "0"), ("8473643095483728456789", "2")],
)
def test_verhoeff_check_digit_vectors(body: str, check: str) -> None:
    assert device_id.check_digit(body) == check


def test_made_ids_are_sixteen_digits_and_valid() -> None:
    for value in range(1, 200):
        made = device_id.make(spki(value))
        assert len(made) == 16 and made.isdigit()
        assert device_id.validate(made)


def test_body_is_the_first_48_bits_of_the_fingerprint() -> None:
    der = spki(7)
    n = int.from_bytes(hashlib.sha256(der).digest()[:6], "big")
    made = device_id.make(der)
    assert made[:15] == str(n).zfill(15)
    assert made[15] == device_id.check_digit(made[:15])


def test_leading_zeros_are_kept() -> None:
    body = "000000000000123"
    full = body + device_id.check_digit(body)
    assert device_id.validate(full)
    assert device_id.parse(device_id.format(device_id.DeviceId(full))) == full


def test_every_single_wrong_digit_is_detected() -> None:
    for made in random_ids(400, seed=1):
        for position in range(16):
            for digit in "0123456789":
                if digit != made[position]:
                    wrong = made[:position] + digit + made[position + 1 :]
                    assert not device_id.validate(wrong), (made, wrong)


def test_every_adjacent_swap_is_detected() -> None:
    swaps = 0
    for made in random_ids(1000, seed=2):
        for position in range(15):
            a, b = made[position], made[position + 1]
            if a != b:
                swapped = made[:position] + b + a + made[position + 2 :]
                assert not device_id.validate(swapped), (made, swapped)
                swaps += 1
    assert swaps > 10_000


def test_grouping_and_parsing_ignore_spaces_and_hyphens() -> None:
    made = device_id.make(spki(3))
    shown = device_id.format(made)
    assert [len(group) for group in shown.split(" ")] == [4, 4, 4, 4]
    assert device_id.parse(shown) == made
    assert device_id.parse(shown.replace(" ", "-")) == made


@pytest.mark.parametrize(
    "text",
    [
        "",
        "123",
        "1020584050721041",
        "10205840507210400",
        "102058405072104a",
        "\uff11\uff10\uff12\uff10" * 4,  # full-width digits: isdigit() but not ASCII
    ],
)
def test_malformed_ids_are_refused(text: str) -> None:
    assert not device_id.validate(text)
    with pytest.raises(InvalidRecord):
        device_id.parse(text)


@pytest.mark.parametrize("body", ["", "12a", "١٢٣"])
def test_check_digit_needs_ascii_digits(body: str) -> None:
    with pytest.raises(InvalidRecord):
        device_id.check_digit(body)
