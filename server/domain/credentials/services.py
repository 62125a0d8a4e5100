"""Credentials: importing known seeds, listing, the support actions officers need, and what
the token and the portal ask (whether a customer has a token, a token deleting its user).

The officer's actions take the caller's session (the tool commits once, after them); the
token's and the portal's open their own transactions. Their SQL is `store.py`
(docs/design.md §9)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from hsm import (
    MIN_IMPORTED_SEED,
    Algorithm,
    HsmError,
    InvalidSeedRequest,
    OtpEngine,
    totp_counter,
)
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Credential, CredentialKind, CredentialStatus, Customer
from server.domain.audit.services import AuditLog
from server.domain.credentials import store
from server.domain.customers.rules import normalise_username
from server.domain.verification.rules import wrapped
from server.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable

RESYNC_TOTP_STEPS = 240  # ±4 hours at 60 s
RESYNC_HOTP_COUNTERS = 1000


def clear_lockout(credential: Credential, now: float) -> None:
    """Forget the failures and any lock: the escalation starts again from the beginning."""
    credential.failure_count, credential.lockouts, credential.locked_until = 0, 0, None
    credential.updated_at = now


def new_public_id() -> str:
    """An opaque identifier for a credential, safe to show and to log."""
    return "cred_" + secrets.token_hex(10)


@dataclass(frozen=True)
class SeedImport:
    """A known seed to load (an imported hardware token, or a test)."""

    seed: bytes = field(repr=False)
    kind: CredentialKind = CredentialKind.TOTP
    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    period: int = 60
    counter: int = 0
    serial: str | None = None
    allow_short_seed: bool = False
    """Accept a seed of 80 to 120 bits (older hardware tokens); the audit event says so."""


class CredentialService:
    """Import, list, unlock, resynchronise, revoke and delete credentials; each change is
    audited."""

    def __init__(self, db: Database, hsm: OtpEngine, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._hsm = hsm
        self._audit = audit
        self._clock = clock

    def import_seed(
        self, session: Session, customer: Customer, spec: SeedImport, actor: str
    ) -> Credential:
        """Wrap `spec.seed` in the HSM and store it as an active credential of `customer`."""
        if spec.kind == CredentialKind.TOTP and not 1 <= spec.period <= 600:
            raise InvalidInput("a TOTP period is 1 to 600 seconds")
        if spec.counter < 0:
            raise InvalidInput("an HOTP counter cannot be negative")
        if not 6 <= spec.digits <= 8:
            raise InvalidInput("an OTP has 6 to 8 digits")
        try:
            sealed = self._hsm.import_seed(
                spec.seed, spec.algorithm, allow_short=spec.allow_short_seed
            )
        except InvalidSeedRequest as exc:
            raise InvalidInput(str(exc)) from exc
        except HsmError as exc:
            raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        now = self._clock()
        credential = Credential(
            public_id=new_public_id(),
            customer_id=customer.id or 0,
            kind=spec.kind,
            serial=spec.serial,
            wrapped_seed=sealed.blob,
            kek_version=sealed.kek_version,
            seed_length=sealed.length,
            algorithm=spec.algorithm.value,
            digits=spec.digits,
            period=spec.period,
            last_step=spec.counter - 1 if spec.kind == "hotp" else -1,
            created_at=now,
            updated_at=now,
        )
        session.add(credential)
        session.flush()
        self._audit_done(
            session,
            actor,
            "credential.import",
            customer,
            credential=credential.public_id,
            kind=spec.kind.value,
            algorithm=spec.algorithm.value,
            serial=spec.serial,
            period=spec.period if spec.kind == CredentialKind.TOTP else None,
            seed_bits=len(spec.seed) * 8,
            **({"short_seed_policy": "allowed"} if len(spec.seed) < MIN_IMPORTED_SEED else {}),
        )
        return credential

    @staticmethod
    def list(session: Session, username: str | None = None) -> list[tuple[Credential, str]]:
        """Credentials with their customer's username, newest first."""
        statement = select(Credential, Customer.username).join(
            Customer, col(Customer.id) == col(Credential.customer_id)
        )
        if username is not None:
            statement = statement.where(Customer.username == normalise_username(username))
        rows = session.exec(statement.order_by(col(Credential.id).desc())).all()
        return [(credential, name) for credential, name in rows]

    @staticmethod
    def get(session: Session, public_id: str) -> tuple[Credential, Customer]:
        row = session.exec(
            select(Credential, Customer)
            .join(Customer, col(Customer.id) == col(Credential.customer_id))
            .where(Credential.public_id == public_id)
        ).first()
        if row is None:
            raise NotFound(f"no credential {public_id!r}")
        return row

    def unlock(self, session: Session, public_id: str, actor: str) -> Credential:
        """Lift a lock-out and forget the failures (the escalation starts again)."""
        credential, customer = self.get(session, public_id)
        clear_lockout(credential, self._clock())
        session.add(credential)
        self._audit_done(session, actor, "credential.unlock", customer, credential=public_id)
        return credential

    def revoke(
        self,
        session: Session,
        public_id: str,
        actor: str,
        status: CredentialStatus = CredentialStatus.REVOKED,
    ) -> Credential:
        """Stop a credential for good: its codes are rejected from now on."""
        credential, customer = self.get(session, public_id)
        if credential.status != CredentialStatus.ACTIVE:
            raise Conflict(f"credential {public_id} is {credential.status} already")
        credential.status = status
        credential.updated_at = self._clock()
        session.add(credential)
        action = f"credential.{status.value.removesuffix('d')}"
        self._audit_done(session, actor, action, customer, credential=public_id)
        return credential

    def resync(
        self, session: Session, public_id: str, first: str, second: str, actor: str
    ) -> Credential:
        """Find two consecutive codes far from the window and move the window there.

        TOTP: searches ±4 hours around our clock and learns the drift. HOTP: searches the
        next 1000 counters. Both codes become used.
        """
        credential, customer = self.get(session, public_id)
        if credential.status != CredentialStatus.ACTIVE:
            raise Conflict(f"credential {public_id} is {credential.status}")
        now = self._clock()
        if credential.kind == CredentialKind.HOTP:
            counters = list(
                range(credential.last_step + 1, credential.last_step + 1 + RESYNC_HOTP_COUNTERS)
            )
        else:
            centre = totp_counter(now, credential.period)
            counters = list(range(centre - RESYNC_TOTP_STEPS, centre + RESYNC_TOTP_STEPS + 1))
        try:
            codes = self._hsm.otp_values(
                wrapped(credential),
                Algorithm.parse(credential.algorithm),
                credential.digits,
                counters,
            )
        except HsmError as exc:
            raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        found = None
        for index in range(len(counters) - 1):
            if hmac.compare_digest(codes[index], first) and hmac.compare_digest(
                codes[index + 1], second
            ):
                found = counters[index + 1]
                break
        if found is None or found <= credential.last_step:
            raise InvalidInput("these two codes are not consecutive codes of this credential")
        credential.last_step = found
        if credential.kind == CredentialKind.TOTP:
            credential.drift = found - totp_counter(now, credential.period)
        clear_lockout(credential, now)
        session.add(credential)
        self._audit_done(
            session,
            actor,
            "credential.resync",
            customer,
            credential=public_id,
            drift=credential.drift,
        )
        return credential

    def has_token(self, customer: Customer) -> bool:
        """True when the customer has an active credential."""
        with self._db.reading() as connection:
            return store.has_active(connection, customer.id)

    def delete_by_token(self, token_point: bytes, public_id: str) -> None:
        """Retire a credential on behalf of the token it was provisioned to (`token_point`:
        the key that signed the request); a retired one stays as it is.

        Raises:
            NotFound: no such credential, or it was provisioned to another token.
        """
        now = self._clock()
        with self._db.transaction() as session:
            row = store.with_owner(session, public_id)
            if row is None or not hmac.compare_digest(row[1].public_key, token_point):
                raise NotFound("no such credential on this token")
            credential, device, customer = row
            if credential.status == CredentialStatus.ACTIVE:
                credential.status = CredentialStatus.RETIRED
                credential.updated_at = now
                session.add(credential)
                self._audit.record(
                    session.connection(),
                    actor=f"device:{device.device_id}",
                    action="credential.deleted_by_token",
                    subject=customer.username,
                    result="ok",
                    details={"credential": public_id},
                )

    def _audit_done(
        self, session: Session, actor: str, action: str, customer: Customer, **details: Any
    ) -> None:
        """Audit an officer's action on a credential of `customer`, which succeeded."""
        self._audit.record(
            session.connection(),
            actor=actor,
            action=action,
            subject=customer.username,
            result="ok",
            details=details,
        )
