"""OCRA (RFC 6287): the suite, the data input and the response, the parts that need no secret.

The HMAC over the data input is computed inside the HSM with the seed unwrapped as every
OTP seed is (`Hsm.ocra_responses`, `Hsm.find_ocra_responses`); this module only says which
bytes it is computed over and how its value becomes the response.

    OCRA = CryptoFunction(K, DataInput)
    DataInput = suite || 0x00 || [C] || Q || [P] || [S] || [T]            (RFC 6287 §5.1)

- C: the counter, 8 bytes big-endian.
- Q: the question, 128 bytes: numeric questions as the hexadecimal form of their decimal
  value, hexadecimal ones as the bytes they spell, alphanumeric ones as ASCII; in each
  case followed by zero bytes (a lone final hex digit takes a zero digit after it).
- P: the hash of the PIN or password (SHA-1/256/512 as the suite says).
- S: the session information, nnn bytes (zero bytes before it, as in the RFC's code).
- T: the number of time steps since the Unix epoch, 8 bytes big-endian.

The response is the HOTP dynamic truncation (RFC 4226 §5.3) of the HMAC to the suite's
digits; a suite with 0 digits answers the whole 31-bit number it truncates to, in decimal
(RFC 6287 says "no truncation" without saying more; this is what python-oath answers).

A numeric question's conversion drops its leading zeros and pads on the right, so two
different numbers can give the same Q: `n` and `16 * n`. docs/protocol.md, "Transaction
signing (OCRA)", says why the product's questions are therefore alphanumeric.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass

from hsm.errors import InvalidSeedRequest
from hsm.otp import Algorithm, counter_bytes, dynamic_binary_code, truncate

QUESTION_BYTES = 128
"""Q is always this long in the data input (RFC 6287 §5.1)."""

_TIME_UNITS = {"S": (1, 59), "M": (60, 56), "H": (3600, 48)}
"""Time-step unit -> (seconds, the largest count RFC 6287 §6.3 allows)."""

_CRYPTO_FUNCTION = re.compile(r"HOTP-(SHA1|SHA256|SHA512)-(\d+)")
_DATA_INPUT = re.compile(
    r"(?P<counter>C-)?"
    r"Q(?:(?P<qf>[ANH])(?P<ql>\d\d))?"
    r"(?P<pin>-P(?P<ph>SHA1|SHA256|SHA512)?)?"
    r"(?P<session>-S(?P<sn>\d\d\d)?)?"
    r"(?P<time>-T(?:(?P<tn>\d\d?)(?P<tu>[SMH]))?)?"
)


class QuestionFormat(enum.StrEnum):
    """How an OCRA question is written (RFC 6287 §6.3, QFxx)."""

    ALPHANUMERIC = "A"
    NUMERIC = "N"
    HEXADECIMAL = "H"


@dataclass(frozen=True)
class OcraInput:
    """What one OCRA response is computed over, apart from the key and the suite.

    Give exactly the inputs the suite names (`counter` for C, `pin_hash` for P, `session`
    for S, `time_step` for T) and no other: `OcraSuite.data_input` refuses a missing one
    and an extra one alike.

    Attributes:
        question: the challenge (Q) as text: digits (N), hex digits (H) or ASCII letters
            and digits (A). Mutual challenge-response (RFC 6287 §7.3) sends both
            challenges in one question, so up to twice the suite's length is accepted.
        counter: C, 0 to 2**64 - 1.
        time_step: T, whole time steps of the suite since the Unix epoch
            (`OcraSuite.time_step_at`).
        pin_hash: P, the hash of the PIN or password (`OcraSuite.hash_pin`).
        session: S, at most the suite's session length; shorter is padded with leading
            zero bytes.
    """

    question: str
    counter: int | None = None
    time_step: int | None = None
    pin_hash: bytes | None = None
    session: bytes | None = None

    def __repr__(self) -> str:  # the question and the moving factors, never the PIN hash
        return (
            f"OcraInput(question={self.question!r}, counter={self.counter}, "
            f"time_step={self.time_step}, pin_hash={'<set>' if self.pin_hash else None}, "
            f"session={'<set>' if self.session else None})"
        )


@dataclass(frozen=True)
class OcraSuite:
    """A parsed OCRA suite (RFC 6287 §6): `OcraSuite.parse("OCRA-1:HOTP-SHA256-8:QA20-T1M")`.

    Attributes:
        text: the suite as written; it is part of every data input, byte for byte.
        algorithm: the HMAC hash (and so the seed length the HSM needs).
        digits: the response length, 4 to 10, or 0 for the untruncated number.
        counter: the suite takes a counter (C).
        question_format, question_length: Q's format and its length (4 to 64).
        pin_algorithm: the PIN hash (P), or None.
        session_length: bytes of session information (S), or None.
        time_step: seconds of a time step (T), or None.
    """

    text: str
    algorithm: Algorithm
    digits: int
    counter: bool
    question_format: QuestionFormat
    question_length: int
    pin_algorithm: Algorithm | None = None
    session_length: int | None = None
    time_step: int | None = None

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> OcraSuite:
        """Read `OCRA-1:HOTP-<hash>-<digits>:<data input>`.

        The data input lists C, Q, P, S and T in that order (each but Q optional), as
        RFC 6287 §6.3 writes them; its defaults are understood (`Q` is QN08, `P` PSHA1,
        `S` S064, `T` T1M). `T0H` is refused: a time step of no seconds counts nothing.

        Raises:
            InvalidSeedRequest: saying which part of the suite is wrong.
        """
        parts = text.split(":")
        if len(parts) != 3:
            raise InvalidSeedRequest(f"an OCRA suite has three parts separated by ':': {text!r}")
        version, function, data = parts
        if version != "OCRA-1":
            raise InvalidSeedRequest(f"unknown OCRA version {version!r}: only OCRA-1 exists")
        crypto = _CRYPTO_FUNCTION.fullmatch(function)
        if crypto is None:
            raise InvalidSeedRequest(
                f"unknown OCRA crypto function {function!r}: HOTP-SHA1, HOTP-SHA256 or "
                "HOTP-SHA512, then '-' and the digits"
            )
        digits = int(crypto.group(2))
        if digits != 0 and not 4 <= digits <= 10:
            raise InvalidSeedRequest(f"an OCRA response has 0 or 4 to 10 digits, not {digits}")
        inputs = _DATA_INPUT.fullmatch(data)
        if inputs is None:
            raise InvalidSeedRequest(
                f"unknown OCRA data input {data!r}: [C-]QFxx[-PH][-Snnn][-TG], in that order"
            )
        question_length = int(inputs["ql"] or 8)
        if not 4 <= question_length <= 64:
            raise InvalidSeedRequest(f"an OCRA question is 04 to 64 long, not {question_length}")
        session_length = None
        if inputs["session"]:
            session_length = int(inputs["sn"] or 64)
            if session_length == 0:
                raise InvalidSeedRequest("OCRA session information of S000 bytes is nothing")
        return cls(
            text=text,
            algorithm=Algorithm(crypto.group(1)),
            digits=digits,
            counter=bool(inputs["counter"]),
            question_format=QuestionFormat(inputs["qf"] or "N"),
            question_length=question_length,
            pin_algorithm=Algorithm(inputs["ph"] or "SHA1") if inputs["pin"] else None,
            session_length=session_length,
            time_step=_time_step(inputs["tn"] or "1", inputs["tu"] or "M")
            if inputs["time"]
            else None,
        )

    def time_step_at(self, unix_time: float) -> int:
        """T for a moment: whole time steps of this suite since the Unix epoch."""
        if self.time_step is None:
            raise InvalidSeedRequest(f"the OCRA suite {self.text} takes no time")
        return int(unix_time // self.time_step)

    def hash_pin(self, pin: str) -> bytes:
        """P for a PIN or password (its UTF-8 bytes, hashed as the suite says)."""
        if self.pin_algorithm is None:
            raise InvalidSeedRequest(f"the OCRA suite {self.text} takes no PIN")
        return hashlib.new(self.pin_algorithm.value.lower(), pin.encode()).digest()

    def question_bytes(self, question: str) -> bytes:
        """Q as it enters the data input: 128 bytes (RFC 6287 §5.1)."""
        if not 1 <= len(question) <= 2 * self.question_length:
            raise InvalidSeedRequest(
                f"an OCRA question of suite {self.text} has 1 to "
                f"{2 * self.question_length} characters, not {len(question)}"
            )
        if self.question_format is QuestionFormat.NUMERIC:
            if not question.isascii() or not question.isdigit():
                raise InvalidSeedRequest("a numeric OCRA question has decimal digits only")
            value = _hex_bytes(format(int(question), "x"))
        elif self.question_format is QuestionFormat.HEXADECIMAL:
            if re.fullmatch(r"[0-9A-Fa-f]+", question) is None:
                raise InvalidSeedRequest("a hexadecimal OCRA question has hex digits only")
            value = _hex_bytes(question)
        else:
            if re.fullmatch(r"[0-9A-Za-z]+", question) is None:
                raise InvalidSeedRequest(
                    "an alphanumeric OCRA question has ASCII letters and digits only"
                )
            value = question.encode("ascii")
        if len(value) > QUESTION_BYTES:
            raise InvalidSeedRequest(f"an OCRA question fits in {QUESTION_BYTES} bytes")
        return value.ljust(QUESTION_BYTES, b"\0")

    def data_input(self, given: OcraInput) -> bytes:
        """The bytes the HMAC is computed over (RFC 6287 §5.1).

        Raises:
            InvalidSeedRequest: an input the suite needs is missing, one it does not take
                is given, or one is malformed.
        """
        for name, takes, value in (
            ("counter (C)", self.counter, given.counter),
            ("PIN hash (P)", self.pin_algorithm is not None, given.pin_hash),
            ("session (S)", self.session_length is not None, given.session),
            ("time step (T)", self.time_step is not None, given.time_step),
        ):
            if takes and value is None:
                raise InvalidSeedRequest(f"the OCRA suite {self.text} needs a {name}")
            if not takes and value is not None:
                raise InvalidSeedRequest(f"the OCRA suite {self.text} takes no {name}")
        parts = [self.text.encode("ascii"), b"\0"]
        if given.counter is not None:
            parts.append(counter_bytes(given.counter))
        parts.append(self.question_bytes(given.question))
        if self.pin_algorithm is not None and given.pin_hash is not None:
            if len(given.pin_hash) != self.pin_algorithm.seed_length:
                raise InvalidSeedRequest(
                    f"the PIN hash of suite {self.text} is {self.pin_algorithm.value}: "
                    f"{self.pin_algorithm.seed_length} bytes, not {len(given.pin_hash)}"
                )
            parts.append(given.pin_hash)
        if self.session_length is not None and given.session is not None:
            if len(given.session) > self.session_length:
                raise InvalidSeedRequest(
                    f"the session information of suite {self.text} has at most "
                    f"{self.session_length} bytes, not {len(given.session)}"
                )
            parts.append(given.session.rjust(self.session_length, b"\0"))
        if given.time_step is not None:
            parts.append(counter_bytes(given.time_step))
        return b"".join(parts)

    def response(self, mac: bytes) -> str:
        """The response for the HMAC of a data input: its dynamic truncation."""
        if self.digits == 0:
            return str(dynamic_binary_code(mac))
        return truncate(mac, self.digits)


def _hex_bytes(digits: str) -> bytes:
    """Hex digits as bytes, a lone last digit taking a zero after it (the RFC's code pads
    the hex text on the right before reading it)."""
    return bytes.fromhex(digits + "0" * (len(digits) % 2))


def _time_step(count: str, unit: str) -> int:
    """Seconds of a time step `<count><unit>`, within the ranges of RFC 6287 §6.3 (which
    allows 0H, a step of no time: refused, as it counts nothing)."""
    seconds, largest = _TIME_UNITS[unit]
    if not 1 <= int(count) <= largest:
        raise InvalidSeedRequest(
            f"an OCRA time step counts 1 to {largest} of unit {unit}, not {count}"
            + (
                " (the RFC allows 0H, a step of no time, which counts nothing)"
                if unit == "H"
                else ""
            )
        )
    return int(count) * seconds
