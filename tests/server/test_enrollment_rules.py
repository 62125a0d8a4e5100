"""The enrollment rules alone: pure functions, no database, HSM, mail or clock
(milliseconds)."""

from __future__ import annotations

import pytest

from server.db.models import CustomerStatus, DeviceStatus, EnrollmentStatus
from server.domain.enrollment.device_id import check_digit
from server.domain.enrollment.rules import (
    WRONG_ACTIVATION,
    WRONG_DEVICE_ID,
    EnrollmentPolicy,
    activation_code_well_formed,
    code_matches,
    customer_may_enrol,
    ended,
    expires_at,
    matching,
    may_bind,
    may_start_registration,
    nothing_to_redeem,
    redeeming_device_id,
    refuse_revoked,
    registering_device_id,
    registration_window_start,
    replacement_approved,
    replacement_code,
    same_token,
    status_at,
    token_kind,
    typed_device_id,
)
from server.domain.verification.rules import Result
from server.errors import (
    AttemptsExhausted,
    CodeAlreadyUsed,
    CodeExpired,
    Conflict,
    CustomerCannotEnrol,
    DeviceRevoked,
    InvalidInput,
    NotAllowed,
    ServiceUnavailable,
    TooManyWrongCodes,
)

NOW = 1_800_000_000.0
POLICY = EnrollmentPolicy()
DEVICE_ID = "0203667801700878"
POINT = b"\x04" + b"\x11" * 64


def _with_check_digit(body: str) -> str:
    return body + check_digit(body)


# -- what the person typed ---------------------------------------------------------------


def test_a_typed_device_id_loses_its_separators() -> None:
    assert typed_device_id("0203 6678-0170.0878") == DEVICE_ID


@pytest.mark.parametrize(
    "typed",
    ["", "0203667801700879", "020366780170087", "02036678017008780", "1234567812345678\u00b2"],
)
def test_a_device_id_with_a_wrong_digit_or_length_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput, match=WRONG_DEVICE_ID):
        typed_device_id(typed)


def test_a_registration_s_device_id_is_the_one_of_the_key_that_signed() -> None:
    assert registering_device_id("0203 6678 0170 0878", DEVICE_ID) == DEVICE_ID
    other = _with_check_digit("123456789012345")
    with pytest.raises(InvalidInput, match="does not belong to the key"):
        registering_device_id(other, DEVICE_ID)
    with pytest.raises(InvalidInput, match=WRONG_DEVICE_ID):
        registering_device_id("0203667801700879", DEVICE_ID)


def test_a_redemption_s_device_id_gives_one_answer_for_every_mismatch() -> None:
    assert redeeming_device_id("0203-6678-0170-0878", DEVICE_ID) == DEVICE_ID
    for typed in ("0203667801700879", _with_check_digit("123456789012345"), ""):
        with pytest.raises(InvalidInput, match=WRONG_ACTIVATION):
            redeeming_device_id(typed, DEVICE_ID)


def test_only_the_known_kinds_of_token_are_activated() -> None:
    assert token_kind("hardware") == "hardware"
    assert token_kind("emulator") == "emulator"
    for kind in ("smartwatch", "", "Hardware"):
        with pytest.raises(InvalidInput, match="hardware, emulator"):
            token_kind(kind)


def test_an_activation_code_with_a_typo_is_not_well_formed() -> None:
    code = _with_check_digit("123456789")
    assert activation_code_well_formed(code)
    typo = code[:3] + str((int(code[3]) + 1) % 10) + code[4:]
    assert not activation_code_well_formed(typo)
    assert not activation_code_well_formed(code[:-1])
    assert not activation_code_well_formed(code + "0")


# -- where a pending record stands --------------------------------------------------------


def test_a_pending_record_expires_at_its_time_not_a_moment_later() -> None:
    pending = EnrollmentStatus.PENDING
    assert status_at(pending, NOW + 1, NOW) is EnrollmentStatus.PENDING
    assert status_at(pending, NOW, NOW) is EnrollmentStatus.EXPIRED
    assert status_at(pending, NOW - 1, NOW) is EnrollmentStatus.EXPIRED


@pytest.mark.parametrize(
    "status", [EnrollmentStatus.COMPLETED, EnrollmentStatus.FAILED, EnrollmentStatus.EXPIRED]
)
def test_a_record_that_is_over_stays_as_it_is(status: EnrollmentStatus) -> None:
    assert status_at(status, NOW + 600, NOW) is status
    assert status_at(status, NOW - 600, NOW) is status


def test_why_a_record_can_take_no_code() -> None:
    assert ended(EnrollmentStatus.PENDING) is None
    assert isinstance(ended(EnrollmentStatus.EXPIRED), CodeExpired)
    assert isinstance(ended(EnrollmentStatus.FAILED), TooManyWrongCodes)
    assert isinstance(ended(EnrollmentStatus.COMPLETED), CodeAlreadyUsed)


def test_a_code_lives_for_the_policy_s_time() -> None:
    assert expires_at(NOW, EnrollmentPolicy(ttl_seconds=90)) == NOW + 90


def test_digests_are_compared_whole() -> None:
    assert code_matches("ab" * 32, "ab" * 32)
    assert not code_matches("ab" * 32, "ab" * 31 + "ac")
    assert not code_matches("ab" * 32, "")


def test_a_device_id_without_open_activations_is_told_why() -> None:
    assert isinstance(nothing_to_redeem(pending=2), CodeExpired)
    refused = nothing_to_redeem(pending=0)
    assert isinstance(refused, InvalidInput)
    assert str(refused) == WRONG_ACTIVATION


def test_the_code_says_whose_activation_it_is() -> None:
    assert matching(["d1", "d2", "d3"], "d2") == 1
    assert matching(["d1", "d2"], "d9") is None
    assert matching([], "d1") is None


# -- what a customer may do next ----------------------------------------------------------


def test_registrations_are_counted_over_the_last_hour() -> None:
    assert registration_window_start(NOW) == NOW - 3600
    may_start_registration(POLICY.registrations_per_hour - 1, POLICY)
    with pytest.raises(AttemptsExhausted, match="too many registrations"):
        may_start_registration(POLICY.registrations_per_hour, POLICY)


def test_a_first_token_needs_no_code_and_a_replacement_needs_one() -> None:
    assert replacement_code(False, None) is None
    assert replacement_code(False, "123456") is None
    assert replacement_code(True, "123456") == "123456"
    for missing in (None, ""):
        with pytest.raises(NotAllowed, match="needs a code from the token you have now"):
            replacement_code(True, missing)


def test_only_an_accepted_code_approves_a_new_token() -> None:
    replacement_approved(Result.ACCEPTED)
    with pytest.raises(ServiceUnavailable):
        replacement_approved(Result.UNAVAILABLE)
    for result in (Result.REJECTED, Result.LOCKED, Result.RATE_LIMITED):
        with pytest.raises(NotAllowed, match="not correct"):
            replacement_approved(result)


def test_only_an_active_customer_enrols() -> None:
    customer_may_enrol(CustomerStatus.ACTIVE)
    with pytest.raises(CustomerCannotEnrol):
        customer_may_enrol(CustomerStatus.DISABLED)


# -- binding a device --------------------------------------------------------------------


def test_a_revoked_device_never_enrolls() -> None:
    refuse_revoked(None)
    refuse_revoked(DeviceStatus.ACTIVE)
    with pytest.raises(DeviceRevoked):
        refuse_revoked(DeviceStatus.REVOKED)


def test_a_known_device_is_bound_again_only_to_its_own_key() -> None:
    may_bind(POINT, DeviceStatus.ACTIVE, POINT)
    with pytest.raises(Conflict, match="bound to another key"):
        may_bind(b"\x04" + b"\x22" * 64, DeviceStatus.ACTIVE, POINT)
    with pytest.raises(DeviceRevoked):
        may_bind(POINT, DeviceStatus.REVOKED, POINT)


def test_a_registration_belongs_to_the_key_that_started_it() -> None:
    assert same_token(POINT, POINT)
    assert not same_token(POINT, b"\x04" + b"\x22" * 64)
