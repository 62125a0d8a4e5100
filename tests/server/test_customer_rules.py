"""The customers' rules alone: pure functions, no database, password hashing or clock
(milliseconds)."""

from __future__ import annotations

import pytest

from server.db.models import CustomerStatus
from server.domain.customers.rules import (
    LoginCounter,
    LoginPolicy,
    hash_to_check,
    login_counters,
    login_name,
    new_customer_name,
    normalise_username,
)
from server.errors import InvalidInput


def test_usernames_compare_without_case_or_surrounding_spaces() -> None:
    assert normalise_username("  Ana.Perez\t") == "ana.perez"


def test_a_login_looks_up_no_longer_name_than_can_be_stored() -> None:
    assert login_name(" " + "A" * 400 + " ") == "a" * 150


def test_a_new_customer_is_stored_under_the_normalised_name() -> None:
    assert new_customer_name(" Ana.Perez ", "ana@example.com", "12345678") == "ana.perez"


@pytest.mark.parametrize(
    ("username", "email", "password", "says"),
    [
        ("", "ana@example.com", "12345678", "a username is 1 to 150 characters"),
        ("ana perez", "ana@example.com", "12345678", "a username is 1 to 150 characters"),
        ("-ana", "ana@example.com", "12345678", "a username is 1 to 150 characters"),
        ("a" * 151, "ana@example.com", "12345678", "a username is 1 to 150 characters"),
        ("ana", "ana.example.com", "12345678", "is not an e-mail address"),
        ("ana", "ana@example", "12345678", "is not an e-mail address"),
        ("ana", "ana@example.com", "1234567", "a password has at least 8 characters"),
    ],
)
def test_a_new_customer_with_an_unacceptable_field_is_refused_in_words(
    username: str, email: str, password: str, says: str
) -> None:
    with pytest.raises(InvalidInput, match=says) as refused:
        new_customer_name(username, email, password)
    assert password not in str(refused.value)


def test_a_login_is_counted_per_username_and_source_and_per_source() -> None:
    policy = LoginPolicy(failures=4, window_seconds=60)
    assert login_counters("ana", "192.0.2.1", policy) == (
        LoginCounter("password|ana|192.0.2.1", 4, 60),
        LoginCounter("password-source|192.0.2.1", 40, 60),
    )


def test_the_same_name_from_another_source_has_counters_of_its_own() -> None:
    here = login_counters("ana", "192.0.2.1", LoginPolicy())
    there = login_counters("ana", "198.51.100.7", LoginPolicy())
    assert {c.key for c in here}.isdisjoint({c.key for c in there})


def test_only_an_active_customer_s_password_is_checked() -> None:
    assert hash_to_check(CustomerStatus.ACTIVE, "$argon2id$...") == "$argon2id$..."
    assert hash_to_check(CustomerStatus.DISABLED, "$argon2id$...") is None
    assert hash_to_check(None, None) is None
