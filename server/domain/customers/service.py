"""Customers: creation, lookup and the online-banking login (Argon2id passwords).

The order of work lives here; the rules (what a username is, which counters a login is
held to, who may log in) are `rules.py`, the SQL `store.py` (docs/design.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from server.clock import Clock
from server.db.engine import Database
from server.db.models import Customer
from server.domain.customers import store
from server.domain.customers.rules import (
    WRONG_LOGIN,
    LoginPolicy,
    hash_to_check,
    login_counters,
    login_name,
    new_customer_name,
    normalise_username,
)
from server.domain.ratelimit import FailureLimit
from server.errors import AttemptsExhausted, Conflict, NotAuthenticated, NotFound


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
    """Adds and finds customers, and checks their online-banking login."""

    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        clock: Clock,
        login: LoginPolicy | None = None,
    ) -> None:
        self._db = db
        self.passwords = passwords
        self._clock = clock
        self.login = login or LoginPolicy()

    def add(
        self, session: Session, username: str, email: str, password: str, display_name: str = ""
    ) -> Customer:
        """Create a customer; the username must be new."""
        name = new_customer_name(username, email, password)
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
        customer = store.named(session, name)
        if customer is None:
            raise NotFound(f"no customer {name!r}")
        return customer

    def authenticate(self, username: str, password: str, source: str = "") -> Customer:
        """The customer for a username and password, or NotAuthenticated (same time).

        Failures are counted per (username, source) and per source in the database; past the
        limit the check is refused before the password is even looked at.

        Raises:
            AttemptsExhausted: too many wrong passwords lately.
            NotAuthenticated: the username or the password is wrong (one answer for both).
        """
        name = login_name(username)
        counters = [
            (counter.key, FailureLimit(counter.limit, counter.window_seconds))
            for counter in login_counters(name, source, self.login)
        ]
        now = self._clock()
        with self._db.reading() as connection, Session(connection) as session:
            if any(limit.exceeded(connection, key, now) for key, limit in counters):
                raise AttemptsExhausted("too many wrong passwords: try again later")
            customer = store.named(session, name)
        checked = (
            None if customer is None else hash_to_check(customer.status, customer.password_hash)
        )
        ok = self.passwords.check(checked, password)  # an unknown name costs the same time
        if customer is None or not ok:
            with self._db.engine.begin() as connection:
                for key, limit in counters:
                    limit.count(connection, key, now)
            raise NotAuthenticated(WRONG_LOGIN)
        return customer
