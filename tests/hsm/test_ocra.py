"""OCRA (RFC 6287) through the HSM path: every Appendix C vector, then python-oath as the
oracle for random suites and random transactions, then the window search."""

from __future__ import annotations

import dataclasses
import random
import string

import pytest

from hsm import (
    Algorithm,
    Hsm,
    InvalidSeedRequest,
    OcraInput,
    OcraJob,
    OcraSuite,
    SeedRejected,
)
from tests.oracles import RFC_SEEDS, load_vectors, oath_ocra

VECTORS = load_vectors("rfc6287-ocra.txt")
RFC_KEYS = {str(len(seed)): seed for seed in RFC_SEEDS.values()}
COLUMNS = ("section", "text", "key", "counter", "question", "pin", "step", "r")
PIN = "1234"
PIN_SHA1 = bytes.fromhex("7110eda4d09e062aa5e4a390b0a572ac0d2c0220")


def _input(suite: OcraSuite, counter: str, question: str, pin: str, step: str) -> OcraInput:
    return OcraInput(
        question,
        counter=None if counter == "-" else int(counter),
        time_step=None if step == "-" else int(step, 16),
        pin_hash=None if pin == "-" else suite.hash_pin(pin),
    )


def test_vector_file_has_every_suite_of_appendix_c() -> None:
    assert len(VECTORS) == 70
    assert sorted({(row[0], row[1]) for row in VECTORS}) == [
        ("C.1", "OCRA-1:HOTP-SHA1-6:QN08"),
        ("C.1", "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"),
        ("C.1", "OCRA-1:HOTP-SHA256-8:QN08-PSHA1"),
        ("C.1", "OCRA-1:HOTP-SHA512-8:C-QN08"),
        ("C.1", "OCRA-1:HOTP-SHA512-8:QN08-T1M"),
        ("C.2-client", "OCRA-1:HOTP-SHA256-8:QA08"),
        ("C.2-client", "OCRA-1:HOTP-SHA512-8:QA08-PSHA1"),
        ("C.2-server", "OCRA-1:HOTP-SHA256-8:QA08"),
        ("C.2-server", "OCRA-1:HOTP-SHA512-8:QA08"),
        ("C.3", "OCRA-1:HOTP-SHA256-8:QA08"),
        ("C.3", "OCRA-1:HOTP-SHA512-8:QA10-T1M"),
    ]


def test_the_pin_hash_is_the_rfcs() -> None:
    assert OcraSuite.parse("OCRA-1:HOTP-SHA1-6:QN08-PSHA1").hash_pin(PIN) == PIN_SHA1


@pytest.mark.parametrize(
    ("section", "text", "key", "counter", "question", "pin", "step", "r"), VECTORS
)
def test_rfc6287_through_the_hsm(
    hsm: Hsm,
    section: str,
    text: str,
    key: str,
    counter: str,
    question: str,
    pin: str,
    step: str,
    r: str,
) -> None:
    suite = OcraSuite.parse(text)
    wrapped = hsm.import_seed(RFC_KEYS[key], suite.algorithm)
    assert hsm.ocra_responses(wrapped, suite, [_input(suite, counter, question, pin, step)]) == [r]


@pytest.mark.parametrize(
    ("section", "text", "key", "counter", "question", "pin", "step", "r"), VECTORS
)
def test_the_oracle_gives_the_rfc_vectors(
    section: str, text: str, key: str, counter: str, question: str, pin: str, step: str, r: str
) -> None:
    """python-oath earns its place as the oracle: it gives every RFC answer."""
    given = _input(OcraSuite.parse(text), counter, question, pin, step)
    answer = oath_ocra(
        text,
        RFC_KEYS[key],
        given.question,
        counter=given.counter,
        time_step=given.time_step,
        pin=None if pin == "-" else pin,
    )
    assert answer == r


def _random_suite(rng: random.Random) -> str:
    """Any suite of RFC 6287 §6 (explicit forms) with a random data input."""
    algorithm = rng.choice(["SHA1", "SHA256", "SHA512"])
    digits = rng.choice([0, 4, 5, 6, 7, 8, 9, 10])
    parts = ["C"] if rng.random() < 0.4 else []
    parts.append(f"Q{rng.choice('ANH')}{rng.randint(4, 64):02d}")
    if rng.random() < 0.4:
        parts.append("P" + rng.choice(["SHA1", "SHA256", "SHA512"]))
    if rng.random() < 0.3:
        parts.append(f"S{rng.choice([1, 20, 64, 128, 256, 512]):03d}")
    if rng.random() < 0.5:
        unit, largest = rng.choice([("S", 59), ("M", 56), ("H", 48)])
        parts.append(f"T{rng.randint(1, largest)}{unit}")
    return f"OCRA-1:HOTP-{algorithm}-{digits}:{'-'.join(parts)}"


def _random_input(rng: random.Random, suite: OcraSuite) -> tuple[OcraInput, str | None]:
    """An input for `suite`, and its PIN (the input has the PIN's hash)."""
    alphabet = {
        "A": string.ascii_letters + string.digits,
        "N": string.digits,
        "H": "0123456789abcdefABCDEF",
    }[suite.question_format.value]
    length = rng.randint(1, suite.question_length)
    if suite.question_format.value == "H":
        length += length % 2  # python-oath reads whole bytes only
    pin = "".join(rng.choice(string.printable) for _ in range(rng.randint(4, 12)))
    given = OcraInput(
        "".join(rng.choice(alphabet) for _ in range(length)),
        counter=rng.randrange(2**64) if suite.counter else None,
        time_step=rng.randrange(2**32) if suite.time_step else None,
        pin_hash=suite.hash_pin(pin) if suite.pin_algorithm else None,
        session=rng.randbytes(suite.session_length) if suite.session_length else None,
    )
    return given, pin if suite.pin_algorithm else None


@pytest.mark.parametrize("case", range(30))
def test_random_suites_agree_with_python_oath(hsm: Hsm, case: int) -> None:
    rng = random.Random(f"ocra-suite-{case}")
    suite = OcraSuite.parse(_random_suite(rng))
    seed = rng.randbytes(rng.choice([16, 20, 32, 48, 64]))
    wrapped = hsm.import_seed(seed, suite.algorithm)
    cases = [_random_input(rng, suite) for _ in range(3)]
    ours = hsm.ocra_responses(wrapped, suite, [given for given, _ in cases])
    theirs = [
        oath_ocra(
            suite.text,
            seed,
            given.question,
            counter=given.counter,
            time_step=given.time_step,
            pin=pin,
            session=given.session,
        )
        for given, pin in cases
    ]
    assert ours == theirs, suite.text


def test_find_ocra_responses_walks_the_window_in_order(hsm: Hsm) -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA512-8:QA10-T1M")
    wrapped = hsm.import_seed(RFC_SEEDS["SHA512"], Algorithm.SHA512)
    at = OcraInput("SIG1000000", time_step=0x132D0B6)
    window = [dataclasses.replace(at, time_step=at.time_step + d) for d in (-1, 0, 1)]  # type: ignore[operator]
    other_question = [dataclasses.replace(w, question="SIG1100000") for w in window]
    jobs = [
        OcraJob(wrapped, suite, window, "77537423"),  # RFC C.3: found at the middle step
        OcraJob(wrapped, suite, other_question, "77537423"),  # another transaction
        OcraJob(wrapped, suite, window, "77537424"),  # a wrong response
        OcraJob(wrapped, suite, [OcraInput("SIG1000000")], "77537423"),  # no T: that job only
        OcraJob(wrapped, suite, window, ""),
    ]
    found = hsm.find_ocra_responses(jobs)
    assert found[:3] == [window[1], None, None]
    assert isinstance(found[3], InvalidSeedRequest)
    assert "needs a time step" in str(found[3])
    assert isinstance(found[4], InvalidSeedRequest)


@pytest.mark.softhsm
def test_a_seed_shorter_than_the_suites_hash_is_rejected(hsm: Hsm) -> None:
    """SoftHSM refuses an HMAC key shorter than the hash: a TOTP seed of 20 bytes cannot
    answer a SHA-256 suite (the OCRA seed is made for the suite's hash)."""
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA256-8:QA08")
    sha1_seed = hsm.generate_seed(Algorithm.SHA1)
    with pytest.raises(SeedRejected):
        hsm.ocra_responses(sha1_seed, suite, [OcraInput("SIG10000")])
    [answer] = hsm.find_ocra_responses([OcraJob(sha1_seed, suite, [OcraInput("SIG1")], "1")])
    assert isinstance(answer, SeedRejected)


def test_a_malformed_input_costs_no_hsm_call(hsm: Hsm) -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA256-8:QN08")
    wrapped = hsm.import_seed(RFC_SEEDS["SHA256"], Algorithm.SHA256)
    with pytest.raises(InvalidSeedRequest, match="decimal digits"):
        hsm.ocra_responses(wrapped, suite, [OcraInput("1234567A")])
