"""Customers: creation, lookup and password checks (Argon2id)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from server.clock import Clock
from server.db.models import Customer
from server.errors import Conflict, InvalidInput, NotFound

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,149}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")


def normalise_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces."""
    return username.strip().lower()


@dataclass(frozen=True)
class PasswordPolicy:
    """Argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile)."""

    time_cost: int = 3
    memory_cost: int = 65536
    parallelism: int = 4


class Passwords:
    """Hashes and checks passwords; a check of an unknown user costs the same as a real one."""

    def __init__(self, policy: PasswordPolicy | None = None) -> None:
        policy = policy or PasswordPolicy()
        self._hasher = PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_cost,
            parallelism=policy.parallelism,
        )
        self._dummy = self._hasher.hash("not a real password, only for equal timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def check(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with `password_hash=None` spend the same time."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False


class CustomerService:
    """Adds and finds customers."""

    def __init__(self, passwords: Passwords, clock: Clock) -> None:
        self.passwords = passwords
        self._clock = clock

    def add(
        self, session: Session, username: str, email: str, password: str, display_name: str = ""
    ) -> Customer:
        """Create a customer; the username must be new."""
        name = normalise_username(username)
        if not _USERNAME.match(name):
            raise InvalidInput(
                "a username is 1 to 150 characters: letters, digits, '.', '_', '@' or '-'"
            )
        if not _EMAIL.match(email):
            raise InvalidInput(f"{email!r} is not an e-mail address")
        if len(password) < 8:
            raise InvalidInput("a password has at least 8 characters")
        customer = Customer(
            username=name,
            email=email,
            display_name=display_name or name,
            password_hash=self.passwords.hash(password),
            created_at=self._clock(),
        )
        session.add(customer)
        try:
            session.flush()
        except IntegrityError as exc:
            raise Conflict(f"customer {name!r} exists already") from exc
        return customer

    @staticmethod
    def get(session: Session, username: str) -> Customer:
        name = normalise_username(username)
        customer = session.exec(select(Customer).where(Customer.username == name)).first()
        if customer is None:
            raise NotFound(f"no customer {name!r}")
        return customer
