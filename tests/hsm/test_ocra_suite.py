"""`hsm.ocra` without an HSM: every suite form of RFC 6287 §6, and the data input of §5.1
byte by byte."""

from __future__ import annotations

import pytest

from hsm import Algorithm, InvalidSeedRequest, OcraInput, OcraSuite, QuestionFormat


def test_a_full_suite_is_read_part_by_part() -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA512-10:C-QH64-PSHA256-S128-T48H")
    assert suite == OcraSuite(
        text="OCRA-1:HOTP-SHA512-10:C-QH64-PSHA256-S128-T48H",
        algorithm=Algorithm.SHA512,
        digits=10,
        counter=True,
        question_format=QuestionFormat.HEXADECIMAL,
        question_length=64,
        pin_algorithm=Algorithm.SHA256,
        session_length=128,
        time_step=48 * 3600,
    )
    assert str(suite) == suite.text


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("OCRA-1:HOTP-SHA1-0:QA04", "digits", 0),
        ("OCRA-1:HOTP-SHA1-4:QA04", "digits", 4),
        ("OCRA-1:HOTP-SHA256-6:QN64", "question_length", 64),
        ("OCRA-1:HOTP-SHA1-6:QN08-PSHA512", "pin_algorithm", Algorithm.SHA512),
        ("OCRA-1:HOTP-SHA1-6:QN08-S064", "session_length", 64),
        ("OCRA-1:HOTP-SHA1-6:QN08-S512", "session_length", 512),
        ("OCRA-1:HOTP-SHA1-6:QN08-T1S", "time_step", 1),
        ("OCRA-1:HOTP-SHA1-6:QN08-T59S", "time_step", 59),
        ("OCRA-1:HOTP-SHA1-6:QN08-T56M", "time_step", 56 * 60),
        ("OCRA-1:HOTP-SHA1-6:QN08-T1H", "time_step", 3600),
        # the defaults of RFC 6287 §6.3
        ("OCRA-1:HOTP-SHA1-6:Q", "question_length", 8),
        ("OCRA-1:HOTP-SHA1-6:Q", "question_format", QuestionFormat.NUMERIC),
        ("OCRA-1:HOTP-SHA1-6:QA08-P", "pin_algorithm", Algorithm.SHA1),
        ("OCRA-1:HOTP-SHA1-6:QA08-S", "session_length", 64),
        ("OCRA-1:HOTP-SHA1-6:QA08-T", "time_step", 60),
    ],
)
def test_each_form_of_the_rfc(text: str, field: str, value: object) -> None:
    assert getattr(OcraSuite.parse(text), field) == value


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("OCRA-2:HOTP-SHA1-6:QN08", "only OCRA-1"),
        ("OCRA-1:HOTP-SHA1-6", "three parts"),
        ("OCRA-1:HOTP-MD5-6:QN08", "crypto function"),
        ("OCRA-1:TOTP-SHA1-6:QN08", "crypto function"),
        ("OCRA-1:HOTP-SHA1-3:QN08", "0 or 4 to 10 digits"),
        ("OCRA-1:HOTP-SHA1-11:QN08", "0 or 4 to 10 digits"),
        ("OCRA-1:HOTP-SHA1-6:QN03", "04 to 64"),
        ("OCRA-1:HOTP-SHA1-6:QN65", "04 to 64"),
        ("OCRA-1:HOTP-SHA1-6:QX08", "data input"),
        ("OCRA-1:HOTP-SHA1-6:QN8", "data input"),
        ("OCRA-1:HOTP-SHA1-6:C", "data input"),  # no question
        ("OCRA-1:HOTP-SHA1-6:QN08-C", "data input"),  # out of order
        ("OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1", "data input"),
        ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1-PSHA1", "data input"),
        ("OCRA-1:HOTP-SHA1-6:QN08-PMD5", "data input"),
        ("OCRA-1:HOTP-SHA1-6:QN08-S64", "data input"),
        ("OCRA-1:HOTP-SHA1-6:QN08-S000", "S000"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T60S", "1 to 59"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T57M", "1 to 56"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T49H", "1 to 48"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T0H", "1 to 48"),  # the RFC's 0H: a step of no time
        ("OCRA-1:HOTP-SHA1-6:QN08-T0S", "1 to 59"),
    ],
)
def test_a_wrong_suite_is_refused_saying_why(text: str, complaint: str) -> None:
    with pytest.raises(InvalidSeedRequest, match=complaint):
        OcraSuite.parse(text)


def test_the_data_input_is_laid_out_as_section_5() -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA256-8:C-QH08-PSHA1-S004-T30S")
    pin_hash = bytes(range(20))
    data = suite.data_input(
        OcraInput("a1B", counter=5, time_step=0x0102, pin_hash=pin_hash, session=b"\xff")
    )
    text = suite.text.encode()
    assert data == (
        text
        + b"\0"
        + (5).to_bytes(8, "big")
        + b"\xa1\xb0"  # a lone last hex digit takes a zero after it
        + bytes(126)
        + pin_hash
        + b"\0\0\0\xff"  # session information padded on the left
        + (0x0102).to_bytes(8, "big")
    )


def test_a_numeric_question_is_its_value_in_hex_padded_on_the_right() -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA1-6:QN08")
    # 12345678 = 0xBC614E (RFC 6287's reference code: BigInteger(q, 10).toString(16))
    assert suite.question_bytes("12345678") == bytes.fromhex("bc614e") + bytes(125)
    assert suite.question_bytes("00000000") == bytes(128)
    assert suite.question_bytes("1") == b"\x10" + bytes(127)


def test_a_numeric_question_collides_with_sixteen_times_itself() -> None:
    """Why the product's question is alphanumeric (docs/protocol.md, "Transaction signing
    (OCRA)"): the conversion drops leading zeros and pads on the right, so n and 16 n give
    one Q even at a fixed width: 100.00 to ...00001234 and 1,600.00 to ...00019744."""
    numeric = OcraSuite.parse("OCRA-1:HOTP-SHA256-8:QN20-T1M")
    first, second = "00000001000000001234", "00000016000000019744"
    assert int(second) == 16 * int(first)
    assert numeric.question_bytes(first) == numeric.question_bytes(second)
    alphanumeric = OcraSuite.parse("OCRA-1:HOTP-SHA256-8:QA20-T1M")
    assert alphanumeric.question_bytes(first) != alphanumeric.question_bytes(second)


@pytest.mark.parametrize(
    ("text", "given", "complaint"),
    [
        ("OCRA-1:HOTP-SHA1-6:C-QN08", OcraInput("1"), "needs a counter"),
        ("OCRA-1:HOTP-SHA1-6:QN08", OcraInput("1", counter=1), "takes no counter"),
        ("OCRA-1:HOTP-SHA1-6:QN08-T1M", OcraInput("1"), "needs a time step"),
        ("OCRA-1:HOTP-SHA1-6:QN08", OcraInput("1", time_step=1), "takes no time step"),
        ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1", OcraInput("1"), "needs a PIN hash"),
        ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1", OcraInput("1", pin_hash=bytes(32)), "20 bytes"),
        ("OCRA-1:HOTP-SHA1-6:QN08", OcraInput("1", session=b"x"), "takes no session"),
        ("OCRA-1:HOTP-SHA1-6:QN08-S004", OcraInput("1", session=bytes(5)), "at most 4"),
        ("OCRA-1:HOTP-SHA1-6:C-QN08", OcraInput("1", counter=2**64), "2\\*\\*64"),
        ("OCRA-1:HOTP-SHA1-6:C-QN08", OcraInput("1", counter=-1), "2\\*\\*64"),
        ("OCRA-1:HOTP-SHA1-6:QN08", OcraInput(""), "1 to 16 characters"),
        ("OCRA-1:HOTP-SHA1-6:QN08", OcraInput("1" * 17), "1 to 16 characters"),
        ("OCRA-1:HOTP-SHA1-6:QN08", OcraInput("\uff11\uff12"), "decimal digits"),  # fullwidth
        ("OCRA-1:HOTP-SHA1-6:QH08", OcraInput("0g"), "hex digits"),
        ("OCRA-1:HOTP-SHA1-6:QA08", OcraInput("SIG 1"), "letters and digits"),
        ("OCRA-1:HOTP-SHA1-6:QA08", OcraInput("SIGÑ"), "letters and digits"),
    ],
)
def test_an_input_that_does_not_fit_the_suite_is_refused(
    text: str, given: OcraInput, complaint: str
) -> None:
    with pytest.raises(InvalidSeedRequest, match=complaint):
        OcraSuite.parse(text).data_input(given)


def test_the_time_step_and_the_untruncated_response() -> None:
    suite = OcraSuite.parse("OCRA-1:HOTP-SHA1-0:QN08-T1M")
    # RFC 6287 Appendix C's time: Mar 25 2008, 12:06:30 GMT
    assert suite.time_step_at(1_206_446_790) == 0x132D0B6
    mac = bytes.fromhex("1f8698690e02ca16618550ef7f19da8e945b555a")  # RFC 4226 §5.4
    assert suite.response(mac) == str(0x50EF7F19)
    assert OcraSuite.parse("OCRA-1:HOTP-SHA1-6:QN08").response(mac) == "872921"
    with pytest.raises(InvalidSeedRequest, match="takes no time"):
        OcraSuite.parse("OCRA-1:HOTP-SHA1-6:QN08").time_step_at(0)
    with pytest.raises(InvalidSeedRequest, match="takes no PIN"):
        suite.hash_pin("1234")


def test_the_pin_hash_is_never_in_the_repr() -> None:
    assert "0101" not in repr(OcraInput("1", pin_hash=bytes.fromhex("0101" * 10)))
