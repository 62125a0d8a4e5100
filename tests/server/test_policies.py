"""Every field of the verification, enrollment and login policies comes from a setting: none
is left at its default behind the operator's back."""

from __future__ import annotations

from dataclasses import fields

import pytest

from server.domain.customers.rules import LoginPolicy
from server.domain.enrollment.rules import EnrollmentPolicy
from server.domain.verification.rules import VerifyPolicy
from server.services import (
    ENROLLMENT_SETTINGS,
    LOGIN_SETTINGS,
    enrollment_policy_of,
    login_policy_of,
    verify_policy,
)
from server.settings import Settings


def _changed(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, float) and 0 < value < 1:  # a probability
        return value / 2
    if isinstance(value, int | float):
        return value + 7
    return f"{value} (changed)"


def test_every_verify_policy_field_is_set_from_its_setting() -> None:
    defaults = Settings()
    changed = {f.name: _changed(getattr(defaults, f.name)) for f in fields(VerifyPolicy)}
    policy = verify_policy(Settings(**changed))  # type: ignore[arg-type]
    assert {name: getattr(policy, name) for name in changed} == changed


def test_every_enrollment_policy_field_is_set_from_its_setting() -> None:
    assert set(ENROLLMENT_SETTINGS) == {f.name for f in fields(EnrollmentPolicy)}
    defaults = Settings()
    changed = {name: _changed(getattr(defaults, name)) for name in ENROLLMENT_SETTINGS.values()}
    policy = enrollment_policy_of(Settings(**changed))  # type: ignore[arg-type]
    for field, name in ENROLLMENT_SETTINGS.items():
        assert getattr(policy, field) == changed[name], field


def test_every_login_policy_field_is_set_from_its_setting() -> None:
    assert set(LOGIN_SETTINGS) == {f.name for f in fields(LoginPolicy)}
    defaults = Settings()
    changed = {name: _changed(getattr(defaults, name)) for name in LOGIN_SETTINGS.values()}
    policy = login_policy_of(Settings(**changed))  # type: ignore[arg-type]
    for field, name in LOGIN_SETTINGS.items():
        assert getattr(policy, field) == changed[name], field


def test_the_three_that_used_to_be_dropped_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTP_MAX_DRIFT", "3")
    monkeypatch.setenv("OTP_UNKNOWN_USER_RETENTION_SECONDS", "3600")
    monkeypatch.setenv("OTP_REGISTRATIONS_PER_HOUR", "2")
    settings = Settings.from_environment()
    assert verify_policy(settings).max_drift == 3
    assert verify_policy(settings).unknown_user_retention_seconds == 3600
    assert enrollment_policy_of(settings).registrations_per_hour == 2
