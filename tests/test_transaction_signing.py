"""The question of a signed transfer, the server's rule (`verification/transfers.py`) and the
token's (`device_firmware/core/transfers.py`): docs/protocol.md's
worked examples computed from their amount, payee and time, and 200 random transfers
through the HSM against python-oath."""

from __future__ import annotations

import random
import re
from decimal import Decimal
from pathlib import Path

import pytest

from device_firmware.core import transfers as token
from hsm import Algorithm, Hsm, OcraInput, OcraSuite
from server.domain.verification.transfers import (
    MAX_AMOUNT,
    QUESTION_LENGTH,
    SUITE,
    TIME_STEP,
    TransactionRefused,
    amount_in_cents,
    payee_reference,
    question,
)
from tests.oracles import RFC_SEEDS, oath_ocra

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
SECTION = DOC[DOC.index("## 6. Transaction signing (OCRA)") :]
EXAMPLES = re.findall(
    r"^\| (\d) \| `([^`]+)` \| `([^`]+)`[^|]* \| `(\d+)`[^|]* \| `(\d+)` \| `([0-9a-f]+)` "
    r"\| `(\d+)` \|$",
    SECTION,
    re.MULTILINE,
)
DATA_INPUTS = {
    number: parts
    for number, *parts in re.findall(
        r"^(\d): ([0-9a-f]+) ([0-9a-f]+) \(00 x 108\) ([0-9a-f]+)$", SECTION, re.MULTILINE
    )
}
"""Example -> (the suite and its zero byte, the question, T), in hex."""
COLUMNS = ("number", "amount", "payee", "unix_time", "q", "step", "response")
KEY = RFC_SEEDS["SHA256"]


def test_the_suite_is_the_documented_one() -> None:
    suite = OcraSuite.parse(SUITE)
    assert f"\n    {SUITE}\n" in SECTION
    assert suite.algorithm is Algorithm.SHA256
    assert (suite.digits, suite.question_format.value, suite.time_step) == (8, "A", TIME_STEP)
    assert suite.question_length == QUESTION_LENGTH == 20
    key = re.search(r"32-byte test key[^`]*`([0-9a-f]{64})`", SECTION)
    assert key is not None
    assert bytes.fromhex(key.group(1)) == KEY


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("1250", 125000),
        ("1250.5", 125050),
        ("1250.00", 125000),
        ("0.01", 1),
        ("007.10", 710),
        ("9999999999.99", 999999999999),
        (Decimal("1250.000"), 125000),  # a value with no fraction of a cent
        (Decimal("12.3"), 1230),
        ("1250.000000000000000000000000000000", 125000),  # zeros are no fraction of a cent
        ("0001250." + "0" * 5000, 125000),
        (Decimal("1.25E+3"), 125000),
    ],
)
def test_amounts_in_cents(amount: Decimal | str, cents: int) -> None:
    assert amount_in_cents(amount) == cents


@pytest.mark.parametrize(
    ("amount", "complaint"),
    [
        ("1.001", "at most 2 decimals"),
        (Decimal("0.005"), "at most 2 decimals"),
        # beyond the 28 digits a decimal context keeps: rounding would sign 1250.00
        ("1250.0000000000000000000000001", "at most 2 decimals"),
        ("9999999999.989999999999999999999", "at most 2 decimals"),
        ("1250." + "0" * 5000 + "1", "at most 2 decimals"),
        ("10000000000.00", "at most 9999999999.99"),
        (MAX_AMOUNT + Decimal("0.01"), "at most 9999999999.99"),
        ("0", "more than 0"),
        ("0.00", "more than 0"),
        (Decimal("-5"), "more than 0"),
        ("-5", "digits and at most one decimal point"),
        ("+5", "digits and at most one decimal point"),
        ("1e3", "digits and at most one decimal point"),
        ("1,250.00", "digits and at most one decimal point"),
        ("1.250,00", "digits and at most one decimal point"),
        ("1250.", "digits and at most one decimal point"),
        (" 1250", "digits and at most one decimal point"),
        ("\u0661\u0662", "digits and at most one decimal point"),  # Arabic-Indic digits
        (Decimal("NaN"), "finite"),
        (Decimal("Infinity"), "finite"),
    ],
)
def test_amounts_refused(amount: Decimal | str, complaint: str) -> None:
    with pytest.raises(TransactionRefused, match=complaint):
        amount_in_cents(amount)


@pytest.mark.parametrize(
    ("account", "reference"),
    [
        ("ES91 2100 0418 4502 0005 4321", "00054321"),
        ("ES9121000418450200054321", "00054321"),
        ("0049-0001-51-2110000123", "10000123"),
        ("98765432", "98765432"),
    ],
)
def test_payee_references(account: str, reference: str) -> None:
    assert payee_reference(account) == reference


@pytest.mark.parametrize(
    "account", ["1234567", "MT84 MALT 0110 0001 2345 MTLC AST0 01S", "", "1234567x"]
)
def test_payee_references_refused(account: str) -> None:
    with pytest.raises(TransactionRefused, match="last 8 digits"):
        payee_reference(account)


def test_the_question_is_cents_then_payee_in_twenty_digits() -> None:
    assert question("1250.00", "ES91 2100 0418 4502 0005 4321") == "00000012500000054321"
    assert question(Decimal("0.01"), "98765432") == "00000000000198765432"


def test_the_documented_examples_are_complete() -> None:
    assert [e[0] for e in EXAMPLES] == ["1", "2", "3"]
    assert sorted(DATA_INPUTS) == ["1", "2", "3"]


@pytest.mark.parametrize(COLUMNS, EXAMPLES)
def test_a_documented_example(
    hsm: Hsm,
    number: str,
    amount: str,
    payee: str,
    unix_time: str,
    q: str,
    step: str,
    response: str,
) -> None:
    suite = OcraSuite.parse(SUITE)
    assert question(amount, payee) == q
    assert suite.time_step_at(int(unix_time)) == int(step, 16)
    given = OcraInput(q, time_step=int(step, 16))
    head, documented_q, tail = DATA_INPUTS[number]
    expected = bytes.fromhex(head + documented_q) + bytes(108) + bytes.fromhex(tail)
    assert suite.data_input(given) == expected
    assert len(expected) == 166
    wrapped = hsm.import_seed(KEY, Algorithm.SHA256)
    assert hsm.ocra_responses(wrapped, suite, [given]) == [response]


@pytest.mark.parametrize(COLUMNS, EXAMPLES)
def test_a_documented_example_by_the_oracle(
    number: str, amount: str, payee: str, unix_time: str, q: str, step: str, response: str
) -> None:
    assert oath_ocra(SUITE, KEY, q, time_step=int(step, 16)) == response
    cents, reference = amount_in_cents(amount), payee_reference(payee)
    assert token.question(cents, reference) == q
    assert token.response_at(KEY, cents, reference, int(unix_time)) == response


def _random_transfer(rng: random.Random) -> tuple[str, str]:
    cents = rng.choice([rng.randint(1, 999), rng.randint(1, 10**6), rng.randint(1, 10**12 - 1)])
    amount = f"{cents // 100}.{cents % 100:02d}"
    if rng.random() < 0.5:
        payee = f"ES{rng.randint(10, 99)}" + "".join(rng.choice("0123456789") for _ in range(20))
    else:
        payee = f"{rng.randrange(10**8):08d}"
    return amount, payee


@pytest.mark.parametrize("case", range(10))
def test_random_transfers_agree_with_python_oath(hsm: Hsm, case: int) -> None:
    """20 transfers on each of 10 random seeds: 200 responses, HSM against python-oath,
    and against the token's own computation."""
    rng = random.Random(f"transfer-{case}")
    suite = OcraSuite.parse(SUITE)
    seed = rng.randbytes(32)
    wrapped = hsm.import_seed(seed, Algorithm.SHA256)
    transfers = [_random_transfer(rng) for _ in range(20)]
    times = [rng.randrange(1_700_000_000, 4_102_444_800) for _ in transfers]
    inputs = [
        OcraInput(question(amount, payee), time_step=suite.time_step_at(at))
        for (amount, payee), at in zip(transfers, times, strict=True)
    ]
    theirs = [oath_ocra(SUITE, seed, given.question, time_step=given.time_step) for given in inputs]
    assert hsm.ocra_responses(wrapped, suite, inputs) == theirs
    typed = [(amount_in_cents(amount), payee_reference(payee)) for amount, payee in transfers]
    assert [token.question(*t) for t in typed] == [given.question for given in inputs]
    on_token = [token.response_at(seed, *t, at) for t, at in zip(typed, times, strict=True)]
    assert on_token == theirs


def test_the_token_and_the_server_share_the_suite() -> None:
    assert token.SUITE == SUITE
    assert token.TIME_STEP == TIME_STEP
