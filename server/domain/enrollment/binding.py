"""Binding a token to a customer, and the steps both enrollment flows share on the way:
the nonce of a signed request, the refusal of a revoked device, the HSM's digest of a code,
a replacement's approval with a code from the current token, and the redemption itself
(the pending record claimed once, the device bound, the bundle issued, the credential
stored, the customer's other ones retired, the audit, the notice).

The order of work lives here; the rules are `rules.py`, the SQL `store.py` (and the
credentials' and customers' stores for their tables); docs/design.md §3.
"""

from __future__ import annotations

from typing import Any, Literal

import structlog
from sqlmodel import Session

from hsm import HsmError, Provisioner
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Activation, Customer, EnrollmentStatus, Registration
from server.domain.audit.rules import AuditRecord
from server.domain.audit.service import AuditLog
from server.domain.credentials import store as credential_store
from server.domain.credentials.service import CredentialService, new_public_id
from server.domain.customers import store as customer_store
from server.domain.enrollment import messages, store
from server.domain.enrollment.bundle import CredentialProfile, issue
from server.domain.enrollment.rules import (
    EnrollmentPolicy,
    customer_may_enrol,
    may_bind,
    refuse_revoked,
    replacement_approved,
    replacement_code,
    status_at,
)
from server.domain.enrollment.signing import SignedRequest, remember_nonce
from server.domain.verification.rules import VerifyRequest
from server.domain.verification.service import VerificationService
from server.errors import CodeAlreadyUsed, CustomerCannotEnrol, ServiceUnavailable
from server.mail import Mailer, MailError

log = structlog.get_logger("server.enrollment")

Flow = Literal["registration", "activation"]


def current_status(
    session: Session, record: Registration | Activation, now: float
) -> EnrollmentStatus:
    """A registration's or activation's status at `now`, an expiry written down."""
    status = status_at(record.status, record.expires_at, now)
    store.write_status(session, record, status)
    return status


def _completion_events(
    flow: Flow,
    record_id: str,
    customer: Customer,
    device_id: str,
    credential_id: str,
    retired: list[str],
) -> list[AuditRecord]:
    """The audit events of a finished enrollment: each credential it retired, then the
    completion itself."""
    actor = f"device:{device_id}"
    return [
        *(
            AuditRecord(
                actor=actor,
                action="credential.retired",
                subject=customer.username,
                result="ok",
                details={"credential": old, "replaced_by": credential_id},
            )
            for old in retired
        ),
        AuditRecord(
            actor=actor,
            action=f"{flow}.complete",
            subject=customer.username,
            result="ok",
            details={flow: record_id, "credential": credential_id},
        ),
    ]


class DeviceBinding:
    """What self-registration and portal activation share, up to the bound device."""

    def __init__(
        self,
        db: Database,
        hsm: Provisioner,
        audit: AuditLog,
        credentials: CredentialService,
        verification: VerificationService,
        mailer: Mailer,
        clock: Clock,
        policy: EnrollmentPolicy,
        profile: CredentialProfile | None = None,
    ) -> None:
        self._db = db
        self._hsm = hsm
        self._audit = audit
        self._credentials = credentials
        self._verification = verification
        self._mailer = mailer
        self._clock = clock
        self.policy = policy
        self._profile = profile or CredentialProfile()

    def spend_nonce(self, signed: SignedRequest) -> None:
        """Spend a verified request's nonce in a transaction of its own, before anything else.

        Whatever the request's answer, a second copy of it is then refused as a replay
        (docs/protocol.md, "Signed requests"): an attacker holding a captured request learns
        nothing more from sending it again. A request that fails on a transient error is
        sent again by the token with a new nonce.

        Raises:
            NotAuthenticated: the nonce was spent already.
        """
        with self._db.transaction() as session:
            remember_nonce(
                session.connection(),
                signed.nonce,
                self._clock(),
                keep=2 * self.policy.clock_skew_seconds,
            )

    def refuse_revoked(self, device_id: str) -> None:
        """A revoked device ID (and so its key: the ID is derived from it) never enrolls.

        Raises:
            DeviceRevoked: it was revoked.
        """
        with self._db.reading() as reading:
            refuse_revoked(store.device_status(reading, device_id))

    def code_digest(self, purpose: bytes, record_id: str, code: str) -> str:
        """The HSM's keyed digest of a code for one record: what the database keeps.

        Raises:
            ServiceUnavailable: the HSM cannot be used now.
        """
        try:
            return self._hsm.keyed_digest(purpose, f"{record_id}:{code}".encode()).hex()
        except HsmError as exc:
            raise ServiceUnavailable("the HSM cannot be used now") from exc

    def approve_replacement(
        self, customer: Customer, device_id: str, code: str | None, source: str
    ) -> None:
        """A customer who has a token approves a new one with a code from it (purpose
        `new_keys`): the password and the mailbox together must not move the second factor.

        Raises:
            NotAllowed: no code, or not an accepted one.
            ServiceUnavailable: codes cannot be checked now.
        """
        given = replacement_code(self._credentials.has_token(customer), code)
        if given is None:
            return
        outcome = self._verification.verify(
            VerifyRequest(
                username=customer.username,
                code=given,
                purpose="new_keys",
                client="enrollment",
                source=source,
                transaction={"new_device": device_id},
                authenticated=True,  # the password was checked first: its own budget
            )
        )
        replacement_approved(outcome.result)

    def finish(
        self,
        table: store.Pending,
        record_id: str,
        customer_id: int,
        device_id: str,
        signed: SignedRequest,
        flow: Flow,
    ) -> dict[str, Any]:
        """Claim the pending record (exactly once), issue the bundle, audit, notify.

        Raises:
            CodeAlreadyUsed: another request redeemed the record first.
            CustomerCannotEnrol: the customer is no longer active.
            Conflict: the device ID is bound to another key.
            DeviceRevoked: the device was revoked meanwhile.
            ServiceUnavailable: the HSM cannot be used now.
        """
        now = self._clock()
        credential_id = new_public_id()
        with self._db.transaction() as session:
            if not store.claim(session.connection(), table, record_id, credential_id, now):
                raise CodeAlreadyUsed()
            # lock the customer: two enrollments finishing at once must not both stay active
            customer = customer_store.locked_for_enrollment(session, customer_id)
            if customer is None:
                raise CustomerCannotEnrol()
            customer_may_enrol(customer.status)
            bundle, retired = self._bind(session, customer, credential_id, device_id, signed)
            # one append: the head is moved and the HSM seals once for all these events
            self._audit.append_many(
                session.connection(),
                _completion_events(flow, record_id, customer, device_id, credential_id, retired),
            )
        self._tell_about_retired(customer, retired, device_id)
        return bundle

    def _bind(
        self,
        session: Session,
        customer: Customer,
        credential_id: str,
        device_id: str,
        signed: SignedRequest,
    ) -> tuple[dict[str, Any], list[str]]:
        """Bind the device, issue the bundle, store the credential, retire the others."""
        now = self._clock()
        device = store.device(session, device_id)
        if device is None:
            device = store.add_device(session, device_id, signed.point, now)
        else:
            may_bind(device.public_key, device.status, signed.point)
        try:
            issued = issue(
                self._hsm,
                credential_id=credential_id,
                issuer=self.policy.issuer,
                username=customer.username,
                display_name=customer.display_name,
                device_id=device_id,
                token_point=signed.point,
                server_time=now,
                profile=self._profile,
            )
        except HsmError as exc:
            raise ServiceUnavailable("the HSM cannot be used now: try again shortly") from exc
        others = credential_store.active_ids(session, customer.id)
        credential_store.retire(session.connection(), others, now)
        credential_store.add_provisioned(
            session,
            public_id=credential_id,
            customer_id=customer.id or 0,
            device_row=device.id,
            stored=issued.stored,
            algorithm=self._profile.algorithm,
            digits=self._profile.digits,
            period=self._profile.period,
            now=now,
            ocra=issued.ocra,
        )
        return issued.bundle, others

    def _tell_about_retired(self, customer: Customer, retired: list[str], device_id: str) -> None:
        if not retired:
            return
        notice = messages.new_token_registered(self.policy.issuer, customer.display_name, device_id)
        try:
            self._mailer.send(customer.email, notice.subject, notice.body)
        except MailError as exc:
            log.warning("enrollment.notice_not_sent", reason=str(exc))
