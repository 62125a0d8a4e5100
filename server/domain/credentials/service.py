"""Credentials: importing known seeds, listing, the support actions officers need, and what
the token and the portal ask (whether a customer has a token, a token deleting its user).

The order of work lives here; the rules (what an import may be, what an officer's action
may do to a credential in its status, where a resynchronisation lands, what an unlock
clears) are `rules.py`, the SQL `store.py` (docs/design.md §9). The officer's actions take
the caller's session (the tool commits once, after them); the token's and the portal's open
their own transactions.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import Session

from hsm import MIN_IMPORTED_SEED, Algorithm, HsmError, InvalidSeedRequest, OtpEngine
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Credential, CredentialKind, CredentialStatus, Customer
from server.domain.audit.service import AuditLog
from server.domain.credentials import store
from server.domain.credentials.rules import (
    CustomerTokens,
    OfficerAction,
    SeedImport,
    check_import,
    clear_lockout,
    first_last_step,
    owned_by,
    refuse_resync_of_kind,
    refuse_unless_allowed,
    resync_counters,
    resync_step,
    resynchronise,
    stop,
    stop_action,
    tokens_of,
)
from server.domain.customers.rules import normalise_username
from server.domain.verification import store as guesses
from server.domain.verification.rules import wrapped
from server.errors import InvalidInput, NotFound, ServiceUnavailable


def new_public_id() -> str:
    """An opaque identifier for a credential, safe to show and to log."""
    return "cred_" + secrets.token_hex(10)


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
        check_import(spec)
        try:
            sealed = self._hsm.import_seed(
                spec.seed, spec.algorithm, allow_short=spec.allow_short_seed
            )
        except InvalidSeedRequest as exc:
            raise InvalidInput(str(exc)) from exc
        except HsmError as exc:
            raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        credential = store.add_imported(
            session,
            public_id=new_public_id(),
            customer_id=customer.id or 0,
            spec=spec,
            stored=sealed,
            last_step=first_last_step(spec),
            now=self._clock(),
        )
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
        name = None if username is None else normalise_username(username)
        return store.listed(session, name)

    @staticmethod
    def get(session: Session, public_id: str) -> tuple[Credential, Customer]:
        row = store.with_customer(session, public_id)
        if row is None:
            raise NotFound(f"no credential {public_id!r}")
        return row

    def unlock(self, session: Session, public_id: str, actor: str) -> Credential:
        """Give the credential its guessing budgets back in full (docs/design.md §4)."""
        credential, customer = self.get(session, public_id)
        refuse_unless_allowed(OfficerAction.UNLOCK, public_id, credential.status)
        clear_lockout(credential, self._clock())
        store.save(session, credential)
        assert credential.id is not None  # noqa: S101 - a stored row
        guesses.forget_credential(session.connection(), credential.id)
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
        refuse_unless_allowed(OfficerAction.REVOKE, public_id, credential.status)
        stop(credential, status, self._clock())
        store.save(session, credential)
        self._audit_done(session, actor, stop_action(status), customer, credential=public_id)
        return credential

    def resync(
        self, session: Session, public_id: str, first: str, second: str, actor: str
    ) -> Credential:
        """Find two consecutive codes far from the window and move the window there.

        TOTP: searches ±4 hours around our clock and learns the drift. HOTP: searches the
        next 1000 counters. Both codes become used. An OCRA credential shows no codes and
        is refused.
        """
        credential, customer = self.get(session, public_id)
        refuse_unless_allowed(OfficerAction.RESYNC, public_id, credential.status)
        refuse_resync_of_kind(public_id, credential.kind)
        now = self._clock()
        counters = resync_counters(credential.kind, credential.last_step, credential.period, now)
        try:
            codes = self._hsm.otp_values(
                wrapped(credential),
                Algorithm.parse(credential.algorithm),
                credential.digits,
                counters,
            )
        except HsmError as exc:
            raise ServiceUnavailable(f"the HSM cannot be used: {exc}") from exc
        step = resync_step(counters, codes, first, second, credential.last_step)
        resynchronise(credential, step, now)
        store.save(session, credential)
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

    def tokens(self, customer: Customer) -> CustomerTokens:
        """What the customer's active credentials can do: sign transfers (one has an OCRA
        seed), give codes (one is not an imported OCRA token), or nothing; one read."""
        with self._db.reading() as connection:
            return tokens_of(store.active_tokens(connection, customer.id))

    def delete_by_token(self, token_point: bytes, public_id: str) -> None:
        """Retire a credential on behalf of the token it was provisioned to (`token_point`:
        the key that signed the request); a retired one stays as it is.

        Raises:
            NotFound: no such credential, or it was provisioned to another token.
        """
        now = self._clock()
        with self._db.transaction() as session:
            row = store.with_owner(session, public_id)
            if row is None or not owned_by(row[1].public_key, token_point):
                raise NotFound("no such credential on this token")
            credential, device, customer = row
            if credential.status == CredentialStatus.ACTIVE:
                stop(credential, CredentialStatus.RETIRED, now)
                store.save(session, credential)
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
