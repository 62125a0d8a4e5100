"""The credentials' rules alone: pure functions, no database, HSM or clock (milliseconds).
The service's order of work runs on the real HSM in `test_admin_cli.py` and
`tests/officer/`."""

from __future__ import annotations

import pytest

from hsm import Algorithm, OcraSuite, totp_counter
from server.db.models import Credential, CredentialKind, CredentialStatus
from server.domain.credentials.rules import (
    RESYNC_HOTP_COUNTERS,
    RESYNC_TOTP_STEPS,
    OfficerAction,
    SeedImport,
    TokenAbility,
    ability_of,
    check_import,
    check_signing_suite,
    first_last_step,
    owned_by,
    refuse_resync_of_kind,
    refuse_unless_allowed,
    resync_counters,
    resync_step,
    resynchronise,
    stop,
    stop_action,
)
from server.errors import Conflict, InvalidInput

NOW = 1_800_000_000.0
SEED = bytes(20)


def _credential(kind: CredentialKind = CredentialKind.TOTP, last_step: int = -1) -> Credential:
    return Credential(
        public_id="cred_1",
        customer_id=1,
        kind=kind,
        wrapped_seed=b"blob",
        kek_version=1,
        seed_length=20,
        last_step=last_step,
        created_at=0.0,
        updated_at=0.0,
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (SeedImport(SEED, period=0), "a TOTP period is 1 to 600 seconds"),
        (SeedImport(SEED, period=601), "a TOTP period is 1 to 600 seconds"),
        (SeedImport(SEED, kind=CredentialKind.HOTP, counter=-1), "cannot be negative"),
        (SeedImport(SEED, digits=5), "an OTP has 6 to 8 digits"),
        (SeedImport(SEED, digits=9), "an OTP has 6 to 8 digits"),
        (SeedImport(SEED, kind=CredentialKind.OCRA), "imported with its suite"),
    ],
)
def test_an_import_no_token_could_have_is_refused(spec: SeedImport, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        check_import(spec)


@pytest.mark.parametrize(
    "spec",
    [
        SeedImport(SEED),
        SeedImport(SEED, period=1, digits=6),
        SeedImport(SEED, period=600, digits=8, algorithm=Algorithm.SHA512),
        SeedImport(SEED, kind=CredentialKind.HOTP, counter=0, period=0),  # HOTP: no period
    ],
)
def test_an_import_within_the_limits_is_accepted(spec: SeedImport) -> None:
    check_import(spec)


@pytest.mark.parametrize(
    "suite",
    [
        "OCRA-1:HOTP-SHA256-8:QA20-T1M",  # the product's own (docs/protocol.md §6)
        "OCRA-1:HOTP-SHA1-6:QA20-T30S",
        "OCRA-1:HOTP-SHA512-10:QA64-T5M",
    ],
)
def test_a_suite_with_a_time_step_and_a_long_enough_alphanumeric_question_signs(
    suite: str,
) -> None:
    check_signing_suite(OcraSuite.parse(suite), 20)


@pytest.mark.parametrize(
    ("suite", "lacks"),
    [
        ("OCRA-1:HOTP-SHA256-8:QA20", "no time step (T)"),
        ("OCRA-1:HOTP-SHA256-8:C-QA20-T1M", "a counter (C)"),
        ("OCRA-1:HOTP-SHA256-8:QA20-PSHA256-T1M", "a PIN (P)"),
        ("OCRA-1:HOTP-SHA256-8:QA20-S128-T1M", "session information (S)"),
        ("OCRA-1:HOTP-SHA256-8:QN20-T1M", "numeric (QN), not alphanumeric (QA)"),
        ("OCRA-1:HOTP-SHA256-8:QA19-T1M", "at most 19 characters, not the 20 of a transfer"),
        ("OCRA-1:HOTP-SHA256-0:QA20-T1M", "0 digits, not 6 to 10"),
        ("OCRA-1:HOTP-SHA256-5:QA20-T1M", "5 digits, not 6 to 10"),
        # a response good for hours, and past the day accepted ones are remembered
        ("OCRA-1:HOTP-SHA256-8:QA20-T6M", "time step is 360 s"),
        ("OCRA-1:HOTP-SHA256-8:QA20-T1H", "time step is 3600 s"),
        ("OCRA-1:HOTP-SHA256-8:QA20-T48H", "(T5M at most)"),
    ],
)
def test_a_suite_no_transfer_can_be_verified_with_is_refused_by_name(
    suite: str, lacks: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_signing_suite(OcraSuite.parse(suite), 20)
    assert str(refused.value).startswith(f"OCRA suite {suite} cannot sign transfers here: ")
    assert lacks in str(refused.value)


def test_only_totp_and_hotp_credentials_are_resynchronised_from_codes() -> None:
    refuse_resync_of_kind("cred_1", CredentialKind.TOTP)
    refuse_resync_of_kind("cred_1", CredentialKind.HOTP)
    with pytest.raises(Conflict, match=r"cred_1 signs transfers \(OCRA\)"):
        refuse_resync_of_kind("cred_1", CredentialKind.OCRA)


def test_an_imported_hotp_token_is_next_asked_for_the_code_of_its_counter() -> None:
    assert first_last_step(SeedImport(SEED, kind=CredentialKind.HOTP, counter=7)) == 6
    assert first_last_step(SeedImport(SEED, kind=CredentialKind.HOTP)) == -1
    assert first_last_step(SeedImport(SEED, counter=7)) == -1  # TOTP: no step accepted yet


def test_the_seed_is_not_in_an_import_s_repr() -> None:
    assert "secret" not in repr(SeedImport(b"secret seed 20 bytes"))


def test_an_unlock_is_allowed_in_any_status() -> None:
    for status in CredentialStatus:
        refuse_unless_allowed(OfficerAction.UNLOCK, "cred_1", status)


@pytest.mark.parametrize("action", [OfficerAction.RESYNC, OfficerAction.REVOKE])
def test_resync_and_revoke_need_an_active_credential(action: OfficerAction) -> None:
    refuse_unless_allowed(action, "cred_1", CredentialStatus.ACTIVE)
    for status in set(CredentialStatus) - {CredentialStatus.ACTIVE}:
        with pytest.raises(Conflict, match=f"credential cred_1 is {status}"):
            refuse_unless_allowed(action, "cred_1", status)


def test_a_second_revocation_says_it_is_revoked_already() -> None:
    with pytest.raises(Conflict, match="is revoked already"):
        refuse_unless_allowed(OfficerAction.REVOKE, "cred_1", CredentialStatus.REVOKED)
    with pytest.raises(Conflict) as refused:
        refuse_unless_allowed(OfficerAction.RESYNC, "cred_1", CredentialStatus.REVOKED)
    assert "already" not in str(refused.value)


def test_stopping_a_credential_names_its_audit_action_and_rejects_its_codes() -> None:
    assert stop_action(CredentialStatus.REVOKED) == "credential.revoke"
    assert stop_action(CredentialStatus.RETIRED) == "credential.retire"
    credential = _credential()
    stop(credential, CredentialStatus.RETIRED, NOW)
    assert (credential.status, credential.updated_at) == (CredentialStatus.RETIRED, NOW)


def test_hotp_resync_searches_the_next_thousand_counters() -> None:
    counters = resync_counters(CredentialKind.HOTP, 41, 60, NOW)
    assert counters == list(range(42, 42 + RESYNC_HOTP_COUNTERS))


@pytest.mark.parametrize("period", [30, 60])
def test_totp_resync_searches_four_hours_either_side_at_sixty_seconds(period: int) -> None:
    counters = resync_counters(CredentialKind.TOTP, 10**9, period, NOW)
    centre = totp_counter(NOW, period)
    assert counters[0] == centre - RESYNC_TOTP_STEPS
    assert counters[-1] == centre + RESYNC_TOTP_STEPS
    assert len(counters) == 2 * RESYNC_TOTP_STEPS + 1  # the last step plays no part


COUNTERS = [10, 11, 12, 13]
CODES = ["000010", "000011", "000012", "000013"]


def test_resync_lands_on_the_second_of_two_consecutive_codes() -> None:
    assert resync_step(COUNTERS, CODES, "000011", "000012", last_step=9) == 12
    assert resync_step(COUNTERS, CODES, "000012", "000013", last_step=12) == 13


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("000012", "000011"),  # the right codes, the wrong order
        ("000010", "000012"),  # not consecutive
        ("000013", "999999"),  # the first one alone
        ("999999", "999998"),
    ],
)
def test_resync_refuses_codes_that_are_not_consecutive(first: str, second: str) -> None:
    with pytest.raises(InvalidInput, match="not consecutive codes"):
        resync_step(COUNTERS, CODES, first, second, last_step=9)


def test_resync_never_moves_the_window_back_to_used_codes() -> None:
    with pytest.raises(InvalidInput):
        resync_step(COUNTERS, CODES, "000011", "000012", last_step=12)
    with pytest.raises(InvalidInput):
        resync_step(COUNTERS, CODES, "000011", "000012", last_step=20)


def test_a_totp_resync_learns_the_drift_of_the_token_s_clock() -> None:
    credential = _credential()
    step = totp_counter(NOW, 60) + 5
    resynchronise(credential, step, NOW)
    assert (credential.last_step, credential.drift, credential.updated_at) == (step, 5, NOW)


def test_an_hotp_resync_moves_the_counter_and_learns_no_drift() -> None:
    credential = _credential(CredentialKind.HOTP, last_step=3)
    resynchronise(credential, 500, NOW)
    assert (credential.last_step, credential.drift) == (500, 0)


def test_a_token_owns_only_the_credentials_provisioned_to_its_key() -> None:
    assert owned_by(b"\x04token key", b"\x04token key")
    assert not owned_by(b"\x04token key", b"\x04other key")


@pytest.mark.parametrize(
    ("suites", "ability"),
    [
        ([], TokenAbility.NONE),
        ([None], TokenAbility.CODES),
        ([None, None], TokenAbility.CODES),
        (["OCRA-1:HOTP-SHA256-8:QA20-T1M"], TokenAbility.SIGNS),
        ([None, "OCRA-1:HOTP-SHA256-8:QA20-T1M"], TokenAbility.SIGNS),
    ],
)
def test_one_active_credential_with_an_ocra_seed_signs_transfers(
    suites: list[str | None], ability: TokenAbility
) -> None:
    assert ability_of(suites) is ability
