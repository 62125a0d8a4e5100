"""`PortalSessions`: the order of work of the portal's sessions — opening one at login,
finding the one a cookie names (and ending it when its time is over), finishing a login,
listing and ending them. Every process reads the same rows, so a session ended by one is
refused by all at its next request (docs/design.md §10)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from server.clock import Clock
from server.db.engine import Database
from server.db.models import Customer, CustomerStatus, PortalSession
from server.domain.audit.service import AuditLog
from server.domain.sessions import store
from server.domain.sessions.rules import (
    EndReason,
    SessionPolicy,
    SessionTimes,
    cookie_well_formed,
    public_id_well_formed,
    user_agent_summary,
    why_over,
)
from server.errors import Conflict, InvalidInput, NotFound


def _hash(cookie: str) -> str:
    """What the database keeps of a session id: its SHA-256. The id has 256 random bits,
    so the hash is looked up directly; nothing compares the secret itself."""
    return hashlib.sha256(cookie.encode("ascii")).hexdigest()


def _new_cookie() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Opened:
    """A session just opened (or renewed): the id to put in the cookie, shown once."""

    cookie: str = field(repr=False)
    public_id: str


@dataclass(frozen=True)
class Current:
    """The open session a request's cookie names, and its customer."""

    id: int | None
    public_id: str
    customer: Customer
    authenticated: bool
    """False while the login waits for the token's code."""


@dataclass(frozen=True)
class SessionView:
    """One of a customer's open sessions, as the portal lists it."""

    public_id: str
    created_at: float
    last_seen_at: float
    user_agent: str
    client_address: str
    current: bool


class PortalSessions:
    """Open, find, list and end the customers' portal sessions."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock, policy: SessionPolicy) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self.policy = policy

    def open(
        self,
        customer: Customer,
        *,
        authenticated: bool,
        user_agent: str,
        address: str,
        replacing: str | None = None,
    ) -> Opened:
        """Open a session for `customer` after the password: finished (`authenticated`,
        the customer has no token) or waiting for the code. The session the browser
        had (`replacing`, its cookie) ends."""
        now = self._clock()
        cookie = _new_cookie()
        public_id = "ses_" + secrets.token_hex(8)
        with self._db.transaction() as session:
            if replacing is not None and cookie_well_formed(replacing):
                found = store.open_by_hash(session, _hash(replacing))
                if found is not None:
                    store.end(
                        session.connection(), now, EndReason.NEW_LOGIN, session_ids=[found[0].id]
                    )
            store.add(
                session,
                PortalSession(
                    id_hash=_hash(cookie),
                    public_id=public_id,
                    customer_id=customer.id,  # type: ignore[arg-type]
                    created_at=now,
                    authenticated_at=now if authenticated else None,
                    last_seen_at=now,
                    user_agent=user_agent_summary(user_agent),
                    client_address=address[:100],
                ),
            )
        return Opened(cookie, public_id)

    def current(self, cookie: str | None) -> Current | None:
        """The open session `cookie` names, marked as used now; None when there is none.
        A session whose time is over, or whose customer is no longer active, ends here."""
        if not cookie or not cookie_well_formed(cookie):
            return None
        now = self._clock()
        with self._db.transaction() as session:
            found = store.open_by_hash(session, _hash(cookie))
            if found is None:
                return None
            row, customer = found
            reason = why_over(
                SessionTimes(row.created_at, row.authenticated_at, row.last_seen_at),
                now,
                self.policy,
            )
            if reason is None and customer.status != CustomerStatus.ACTIVE:
                reason = EndReason.CUSTOMER_INACTIVE
            if reason is not None:
                store.end(session.connection(), now, reason, session_ids=[row.id])
                return None
            store.touch(session.connection(), row.id, now)
        return Current(row.id, row.public_id, customer, row.authenticated_at is not None)

    def authenticate(self, cookie: str) -> Opened | None:
        """The token's code was accepted for the login waiting in this session: it gets a
        new id (returned) and its absolute limit starts now. None when the session is no
        longer waiting."""
        if not cookie_well_formed(cookie):
            return None
        fresh = _new_cookie()
        with self._db.transaction() as session:
            found = store.open_by_hash(session, _hash(cookie))
            done = found is not None and store.authenticate(
                session.connection(), _hash(cookie), _hash(fresh), self._clock()
            )
        return Opened(fresh, found[0].public_id) if done and found else None

    def end(self, cookie: str | None, reason: EndReason = EndReason.LOGOUT) -> None:
        """End the session `cookie` names, if it is open (logging out twice is no error)."""
        if not cookie or not cookie_well_formed(cookie):
            return
        with self._db.transaction() as session:
            found = store.open_by_hash(session, _hash(cookie))
            if found is not None:
                store.end(session.connection(), self._clock(), reason, session_ids=[found[0].id])

    def of_customer(self, customer: Customer, current: Current | None = None) -> list[SessionView]:
        """The customer's sessions that may still be used (`current` marked), most recently
        used first."""
        now = self._clock()
        with self._db.transaction() as session:
            rows = store.open_of_customer(session, customer.id)
        here = current.id if current is not None else None
        return [
            SessionView(
                row.public_id,
                row.authenticated_at or row.created_at,
                row.last_seen_at,
                row.user_agent,
                row.client_address,
                row.id == here,
            )
            for row in rows
            if row.id == here
            or why_over(
                SessionTimes(row.created_at, row.authenticated_at, row.last_seen_at),
                now,
                self.policy,
            )
            is None
        ]

    def end_other(self, current: Current, public_id: str) -> None:
        """End another of the customer's sessions, by its public id. Ending one that has
        ended already is no error (a second click).

        Raises:
            InvalidInput: `public_id` is not a session's public id.
            Conflict: it names the session in use (logging out ends that one).
            NotFound: the customer has no such session.
        """
        if not public_id_well_formed(public_id):
            raise InvalidInput("this is not the name of a session")
        if public_id == current.public_id:
            raise Conflict("this is the session in use: log out to end it")
        with self._db.transaction() as session:
            row = store.by_public_id(session, public_id)
            if row is None or row.customer_id != current.customer.id:
                raise NotFound("you have no such session")
            store.end(
                session.connection(),
                self._clock(),
                EndReason.ENDED_BY_CUSTOMER,
                session_ids=[row.id],
            )

    def end_others(self, current: Current) -> int:
        """End every other session of the customer; returns how many ended."""
        with self._db.transaction() as session:
            return store.end(
                session.connection(),
                self._clock(),
                EndReason.ENDED_BY_CUSTOMER,
                customer_ids=[current.customer.id],
                keep=current.id,
            )

    def end_of_customers(
        self, connection: Connection, customer_ids: Sequence[int | None], reason: EndReason
    ) -> int:
        """End every open session of these customers, in the caller's transaction (a
        device or credential revoked); returns how many ended."""
        if not customer_ids:
            return 0
        return store.end(connection, self._clock(), reason, customer_ids=customer_ids)

    def end_by_officer(self, connection: Connection, actor: str, customer: Customer | None) -> int:
        """End one customer's open sessions (or every customer's: `customer` None) in the
        caller's transaction, audited as `session.end`; returns how many ended."""
        ids = None if customer is None else [customer.id]
        ended = store.end(connection, self._clock(), EndReason.ENDED_BY_OFFICER, customer_ids=ids)
        self._audit.record(
            connection,
            actor=actor,
            action="session.end",
            subject=customer.username if customer is not None else "*",
            result="ok",
            details={"ended": ended},
        )
        return ended
