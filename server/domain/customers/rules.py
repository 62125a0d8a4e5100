"""The customers' rules: pure functions and small value types, no I/O and no clock (every
function is given what it decides on). The service (`service.py`) reads, checks the
password, applies these and writes (`store.py`); docs/design.md §9 says where each rule
lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.db.models import CustomerStatus
from server.errors import InvalidInput

WRONG_LOGIN = "the username or the password is not correct"
"""One answer for a wrong username and a wrong password: the login tells no one which."""

USERNAME_LENGTH = 150
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,149}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")


def normalise_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces."""
    return username.strip().lower()


def new_customer_name(username: str, email: str, password: str) -> str:
    """The username a new customer is stored under, once the three fields are acceptable.

    Raises:
        InvalidInput: which field is not, in words (never the password itself).
    """
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise InvalidInput(
            "a username is 1 to 150 characters: letters, digits, '.', '_', '@' or '-'"
        )
    if not _EMAIL.match(email):
        raise InvalidInput(f"{email!r} is not an e-mail address")
    if len(password) < 8:
        raise InvalidInput("a password has at least 8 characters")
    return name


@dataclass(frozen=True)
class LoginPolicy:
    """How many wrong passwords a (username, source) may send per window; a source alone
    may send ten times as many (docs/design.md §9)."""

    failures: int = 10
    window_seconds: int = 900


@dataclass(frozen=True)
class LoginCounter:
    """One failure counter a password login is held to: at most `limit` failures under
    `key` per window of `window_seconds`."""

    key: str
    limit: int
    window_seconds: int


def login_name(username: str) -> str:
    """The name a login looks up: normalised, no longer than any stored username, and a
    NUL (which PostgreSQL cannot even compare) as U+FFFD, which no stored username has."""
    return normalise_username(username)[:USERNAME_LENGTH].replace("\x00", "\ufffd")


def login_counters(name: str, source: str, policy: LoginPolicy) -> tuple[LoginCounter, ...]:
    """The counters a login of `name` from `source` is refused by when exhausted, and
    counts into when the password is wrong: one per (username, source), one per source."""
    return (
        LoginCounter(f"password|{name}|{source}", policy.failures, policy.window_seconds),
        LoginCounter(f"password-source|{source}", 10 * policy.failures, policy.window_seconds),
    )


def hash_to_check(status: str | None, password_hash: str | None) -> str | None:
    """The hash a login's password is checked against: the customer's while it is active;
    None for a customer who may not log in (`status` None: there is none), and the check
    then spends the same time on a stand-in and fails."""
    return password_hash if status == CustomerStatus.ACTIVE else None
