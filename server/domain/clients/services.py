"""Relying parties: API keys (shown once, stored hashed) and which purposes they may verify."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from server.clock import Clock
from server.db.models import RelyingParty
from server.domain.verification.purposes import Purpose
from server.errors import Conflict, InvalidInput, NotAuthenticated, NotFound

KEY_PREFIX = "otpk"
_KEY_RE = re.compile(r"^otpk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def _digest(secret: str) -> bytes:
    # The secret is 256 random bits: a plain hash cannot be brute-forced, and it keeps the
    # per-request check cheap (Argon2 is for passwords people choose).
    return hashlib.sha256(secret.encode()).digest()


class ClientService:
    """Creates relying parties and authenticates their requests."""

    def __init__(self, clock: Clock, cache_seconds: float = 5.0) -> None:
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._recent: dict[str, tuple[RelyingParty, float]] = {}

    def create(
        self,
        session: Session,
        name: str,
        purposes: Iterable[Purpose],
        sign_transfers_above: int | None = None,
    ) -> tuple[RelyingParty, str]:
        """Register a client; returns it and its API key (shown this once, never stored).
        `sign_transfers_above` (cents): its transfers above it must be signed on the token."""
        allowed = sorted({Purpose(p).value for p in purposes})
        if not allowed:
            raise InvalidInput("a client needs at least one purpose")
        if not 1 <= len(name) <= 100:
            raise InvalidInput("a client name has 1 to 100 characters")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        client = RelyingParty(
            name=name,
            key_id=key_id,
            key_hash=_digest(secret),
            purposes=",".join(allowed),
            sign_transfers_above=_threshold(sign_transfers_above),
            created_at=self._clock(),
        )
        session.add(client)
        try:
            session.flush()
        except IntegrityError as exc:
            raise Conflict(f"a client named {name!r} exists already") from exc
        return client, f"{KEY_PREFIX}_{key_id}_{secret}"

    @staticmethod
    def listed(session: Session) -> list[RelyingParty]:
        """Every client, by name."""
        return list(session.exec(select(RelyingParty).order_by(col(RelyingParty.name))).all())

    def require_signing(self, session: Session, name: str, above: int | None) -> RelyingParty:
        """From now on (within `cache_seconds` on every server), this client's transfers of
        more than `above` cents need the token's signature; None: a plain code will do."""
        client = session.exec(select(RelyingParty).where(RelyingParty.name == name)).first()
        if client is None:
            raise NotFound(f"no client named {name!r}")
        client.sign_transfers_above = _threshold(above)
        session.add(client)
        return client

    @staticmethod
    def parse(authorization: str | None) -> tuple[str, str]:
        """(key id, secret) from `Authorization: Bearer otpk_<id>_<secret>`."""
        scheme, _, key = (authorization or "").partition(" ")
        match = _KEY_RE.match(key.strip()) if scheme.lower() == "bearer" else None
        if match is None:
            raise NotAuthenticated("send the API key as 'Authorization: Bearer otpk_...'")
        return match.group(1), match.group(2)

    @staticmethod
    def _check(client: RelyingParty | None, secret: str) -> RelyingParty:
        expected = client.key_hash if client is not None else _digest("no such client")
        if not hmac.compare_digest(expected, _digest(secret)) or client is None:
            raise NotAuthenticated("the API key is not valid")
        if client.status != "active":
            raise NotAuthenticated("the API key was revoked")
        return client

    def authenticate(self, connection: Connection, authorization: str | None) -> RelyingParty:
        """The client whose key is in `Authorization: Bearer <key>`, or NotAuthenticated."""
        key_id, secret = self.parse(authorization)
        row = connection.execute(_BY_KEY_ID, {"key_id": key_id}).first()
        client = RelyingParty.model_validate(row._mapping) if row is not None else None
        checked = self._check(client, secret)
        if self._cache_seconds > 0:
            self._recent[key_id] = (checked, time.monotonic() + self._cache_seconds)
        return checked

    def authenticate_recent(self, authorization: str | None) -> RelyingParty | None:
        """The same check against a client read in the last `cache_seconds`, or None when
        the database must be asked. A revoked key stops working within that time."""
        key_id, secret = self.parse(authorization)
        entry = self._recent.get(key_id)
        if entry is None or entry[1] < time.monotonic():
            return None
        return self._check(entry[0], secret)


_BY_KEY_ID = select(RelyingParty.__table__).where(  # type: ignore[attr-defined]
    col(RelyingParty.key_id) == bindparam("key_id")
)


def _threshold(cents: int | None) -> int | None:
    if cents is not None and cents < 0:
        raise InvalidInput("a signing threshold is an amount of 0 or more")
    return cents


def allowed_purposes(client: RelyingParty) -> set[str]:
    return set(filter(None, client.purposes.split(",")))
