"""The enrollment rules: pure functions and small value types, no I/O and no clock (every
function is given `now`). The services (`registration.py`, `activation.py`, `binding.py`)
read, ask the HSM, apply these and write (`store.py`); docs/design.md §3 says where each
rule lives.

A registration or an activation is a pending record with a digest of its code, a time to
live and a count of the codes tried. The count itself is kept by the store's conditional
UPDATEs (one try is spent before a code is compared, so parallel guesses get no more tries
than allowed between them); what the count and the clock mean is decided here.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from server.db.models import CustomerStatus, DeviceStatus, EnrollmentStatus
from server.domain.enrollment import device_id as ids
from server.domain.verification.rules import Result
from server.errors import (
    AttemptsExhausted,
    CodeAlreadyUsed,
    CodeExpired,
    Conflict,
    CustomerCannotEnrol,
    DeviceRevoked,
    EnrollmentEnded,
    InvalidInput,
    NotAllowed,
    ServiceUnavailable,
    TooManyWrongCodes,
)

WRONG_ACTIVATION = "the device ID or the activation code is not correct: try again"
WRONG_DEVICE_ID = "the device ID is not correct: check the 16 digits on the token"
TOKEN_KINDS = ("hardware", "emulator")
REGISTRATION_WINDOW_SECONDS = 3600
"""`EnrollmentPolicy.registrations_per_hour` counts the registrations started this long ago."""
ACTIVATION_CODE_LENGTH = 10


@dataclass(frozen=True)
class EnrollmentPolicy:
    """Codes, their lifetimes and limits (docs/design.md §3); each field is a setting
    (`server.services.ENROLLMENT_SETTINGS`)."""

    issuer: str = "Banco Demo"
    email_code_digits: int = 8
    ttl_seconds: int = 600
    email_code_attempts: int = 5
    activation_code_attempts: int = 3
    clock_skew_seconds: int = 300
    registrations_per_hour: int = 5


@dataclass(frozen=True)
class RegistrationStarted:
    """What the token is told when the e-mail with the code has gone out."""

    registration_id: str
    masked_email: str
    expires_at: float


@dataclass(frozen=True)
class ActivationIssued:
    """What the portal shows once: the code to type on the token."""

    activation_id: str
    activation_code: str
    device_id: str
    expires_at: float


# -- what the person typed ---------------------------------------------------------------


def typed_device_id(typed: str) -> str:
    """The device ID a person typed, without separators.

    Raises:
        InvalidInput: it is not 16 digits with the right check digit.
    """
    device_id = ids.normalise(typed)
    if not ids.is_device_id(device_id):
        raise InvalidInput(WRONG_DEVICE_ID)
    return device_id


def registering_device_id(typed: str, key_device_id: str) -> str:
    """The device ID a self-registration sends: well formed, and the one of the key that
    signed the request (`key_device_id`).

    Raises:
        InvalidInput: either is not so.
    """
    device_id = typed_device_id(typed)
    if device_id != key_device_id:
        raise InvalidInput("the device ID does not belong to the key that signed the request")
    return device_id


def redeeming_device_id(typed: str, key_device_id: str) -> str:
    """The device ID a token redeems an activation code for: the one of the key that signed
    the request (`key_device_id`), separators dropped.

    Raises:
        InvalidInput: it is not; one answer with a wrong code (`WRONG_ACTIVATION`).
    """
    device_id = ids.normalise(typed)
    if device_id != key_device_id:
        raise InvalidInput(WRONG_ACTIVATION)
    return device_id


def token_kind(kind: str) -> str:
    """The kind of token an activation is for.

    Raises:
        InvalidInput: it is none of `TOKEN_KINDS`.
    """
    if kind not in TOKEN_KINDS:
        raise InvalidInput(f"the kind of token is one of: {', '.join(TOKEN_KINDS)}")
    return kind


def activation_code_well_formed(code: str) -> bool:
    """Ten digits whose check digit is right: anything else is a typo, refused before it is
    compared and so not counted as a guess."""
    return len(code) == ACTIVATION_CODE_LENGTH and ids.has_valid_check_digit(code)


# -- where a pending record stands --------------------------------------------------------


def status_at(status: str, expires_at: float, now: float) -> EnrollmentStatus:
    """A registration's or activation's status at `now`: a pending one whose time ran out
    is expired (the store writes it down when this differs from what it read)."""
    if status == EnrollmentStatus.PENDING and expires_at <= now:
        return EnrollmentStatus.EXPIRED
    return EnrollmentStatus(status)


def ended(status: EnrollmentStatus) -> EnrollmentEnded | None:
    """Why a record in `status` can take no code any more; None while it is pending."""
    return {
        EnrollmentStatus.PENDING: None,
        EnrollmentStatus.EXPIRED: CodeExpired(),
        EnrollmentStatus.FAILED: TooManyWrongCodes(),
        EnrollmentStatus.COMPLETED: CodeAlreadyUsed(),
    }[status]


def expires_at(now: float, policy: EnrollmentPolicy) -> float:
    """When a registration or activation started at `now` stops taking its code."""
    return now + policy.ttl_seconds


def same_token(stored_key: bytes, token_point: bytes) -> bool:
    """True when a record was made for the key that signs this request (constant time)."""
    return hmac.compare_digest(stored_key, token_point)


def code_matches(stored_digest: str, given_digest: str) -> bool:
    """True when the digest of the code given is the one stored (in constant time)."""
    return hmac.compare_digest(stored_digest, given_digest)


def nothing_to_redeem(pending: int) -> EnrollmentEnded | InvalidInput:
    """Why a device ID with no open activation cannot redeem a code: its `pending` ones
    (as read, before their time was checked) all expired, or there are none, which is
    answered as a wrong code (the device ID is not confirmed to anyone)."""
    return CodeExpired() if pending else InvalidInput(WRONG_ACTIVATION)


def matching(digests: Sequence[str], given_digest: str) -> int | None:
    """Which of several open activations of one device ID the code is for (each compared
    in constant time), or None. Several customers may have typed the same device ID, one of
    them perhaps to get in the way: the code says whose it is."""
    return next((i for i, digest in enumerate(digests) if code_matches(digest, given_digest)), None)


# -- what a customer may do next ----------------------------------------------------------


def registration_window_start(now: float) -> float:
    """Registrations started after this count towards `registrations_per_hour`."""
    return now - REGISTRATION_WINDOW_SECONDS


def may_start_registration(recent: int, policy: EnrollmentPolicy) -> None:
    """A customer who started `recent` registrations in the last hour may start another.

    Raises:
        AttemptsExhausted: not before some of them are an hour old.
    """
    if recent >= policy.registrations_per_hour:
        raise AttemptsExhausted("too many registrations in the last hour: try again later")


def replacement_code(has_token: bool, code: str | None) -> str | None:
    """The code from the current token a new one must be approved with: None when the
    customer has no token (a first enrollment needs none). A password (and a mailbox)
    alone must never move the second factor.

    Raises:
        NotAllowed: the customer has a token and sent no code from it.
    """
    if not has_token:
        return None
    if not code:
        raise NotAllowed("replacing your token needs a code from the token you have now")
    return code


def replacement_approved(result: Result) -> None:
    """Whether the current token's code (purpose `new_keys`) approved the new token.

    Raises:
        ServiceUnavailable: the code could not be checked now.
        NotAllowed: the code was not accepted.
    """
    if result is Result.UNAVAILABLE:
        raise ServiceUnavailable("codes cannot be checked right now: try again shortly")
    if result is not Result.ACCEPTED:
        raise NotAllowed("the code from your current token is not correct")


def customer_may_enrol(status: str) -> None:
    """Only an active customer enrols a token.

    Raises:
        CustomerCannotEnrol: the customer was disabled meanwhile.
    """
    if status != CustomerStatus.ACTIVE:
        raise CustomerCannotEnrol()


# -- binding a device --------------------------------------------------------------------


def refuse_revoked(status: str | None) -> None:
    """A revoked device ID (and so its key: the ID is derived from it) never enrolls.

    Raises:
        DeviceRevoked: the device's `status` (None: never seen) is revoked.
    """
    if status == DeviceStatus.REVOKED:
        raise DeviceRevoked


def may_bind(bound_key: bytes, status: str, token_point: bytes) -> None:
    """Whether a device ID bound already (to `bound_key`, in `status`) may be bound to the
    key that redeemed its code: only to the same key, and not once revoked. (A device ID
    never seen is bound to the key that redeems it.)

    Raises:
        Conflict: the device ID is bound to another key.
        DeviceRevoked: the device was revoked while its enrollment was under way.
    """
    if not same_token(bound_key, token_point):
        raise Conflict("this device ID is bound to another key")
    refuse_revoked(status)
