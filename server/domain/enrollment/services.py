"""Self-registration (PaySecure), portal activation (INVEX Clave), and what they share:
binding a device, issuing the bundle, and keeping one token per customer."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from hsm import HsmError, Provisioner
from server.clock import Clock
from server.db.engine import Database
from server.db.models import (
    Activation,
    Credential,
    CredentialKind,
    CredentialStatus,
    Customer,
    CustomerStatus,
    Device,
    DeviceStatus,
    EnrollmentStatus,
    Registration,
)
from server.domain.audit.services import AuditLog, AuditRecord
from server.domain.credentials.services import CredentialService, new_public_id
from server.domain.customers.services import CustomerService
from server.domain.enrollment import device_id as ids
from server.domain.enrollment import messages
from server.domain.enrollment.bundle import CredentialProfile, issue
from server.domain.enrollment.signing import SignedRequest, remember_nonce
from server.domain.verification.rules import Result, VerifyRequest
from server.domain.verification.service import VerificationService
from server.errors import (
    AttemptsExhausted,
    CodeAlreadyUsed,
    CodeExpired,
    Conflict,
    CustomerCannotEnrol,
    DeviceRevoked,
    EnrollmentEnded,
    InvalidInput,
    NotAllowed,
    NotFound,
    ServiceUnavailable,
    TooManyWrongCodes,
)
from server.mail import Mailer, MailError, mask_address

log = structlog.get_logger("server.enrollment")

WRONG_ACTIVATION = "the device ID or the activation code is not correct: try again"
WRONG_DEVICE_ID = "the device ID is not correct: check the 16 digits on the token"
TOKEN_KINDS = ("hardware", "emulator")


@dataclass(frozen=True)
class EnrollmentPolicy:
    issuer: str = "Banco Demo"
    email_code_digits: int = 8
    ttl_seconds: int = 600
    email_code_attempts: int = 5
    activation_code_attempts: int = 3
    clock_skew_seconds: int = 300
    registrations_per_hour: int = 5


@dataclass(frozen=True)
class RegistrationStarted:
    registration_id: str
    masked_email: str
    expires_at: float


@dataclass(frozen=True)
class ActivationIssued:
    activation_id: str
    activation_code: str
    device_id: str
    expires_at: float


class EnrollmentService:
    """The two enrollment flows."""

    def __init__(
        self,
        db: Database,
        hsm: Provisioner,
        audit: AuditLog,
        customers: CustomerService,
        credentials: CredentialService,
        mailer: Mailer,
        clock: Clock,
        policy: EnrollmentPolicy,
        verification: VerificationService,
        profile: CredentialProfile | None = None,
    ) -> None:
        self._db = db
        self._hsm = hsm
        self._audit = audit
        self._customers = customers
        self._credentials = credentials
        self._mailer = mailer
        self._clock = clock
        self.policy = policy
        self._profile = profile or CredentialProfile()
        self._verification = verification

    # -- shared ----------------------------------------------------------------------------

    def _digest(self, purpose: bytes, record_id: str, code: str) -> str:
        try:
            return self._hsm.keyed_digest(purpose, f"{record_id}:{code}".encode()).hex()
        except HsmError as exc:
            raise ServiceUnavailable("the HSM cannot be used now") from exc

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

    def _refuse_revoked(self, device_id: str) -> None:
        """A revoked device ID (and so its key: the ID is derived from it) never enrolls."""
        with self._db.reading() as reading:
            status = reading.execute(
                select(Device.status).where(Device.device_id == device_id)
            ).scalar_one_or_none()
        if status == DeviceStatus.REVOKED:
            raise DeviceRevoked

    def _complete(
        self,
        session: Session,
        customer: Customer,
        credential_id: str,
        device_id: str,
        signed: SignedRequest,
    ) -> tuple[dict[str, Any], list[str]]:
        """Bind the device, issue the bundle, store the credential, retire the others."""
        now = self._clock()
        device = session.exec(select(Device).where(Device.device_id == device_id)).first()
        if device is None:
            device = Device(device_id=device_id, public_key=signed.point, created_at=now)
            session.add(device)
            session.flush()
        elif not hmac.compare_digest(device.public_key, signed.point):
            raise Conflict("this device ID is bound to another key")
        elif device.status == DeviceStatus.REVOKED:
            raise DeviceRevoked  # revoked while this enrollment was under way
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
        others = session.exec(
            select(Credential.public_id)
            .where(Credential.customer_id == customer.id)
            .where(Credential.status == CredentialStatus.ACTIVE)
        ).all()
        if others:
            session.connection().execute(
                update(Credential)
                .where(col(Credential.public_id).in_(others))
                .values(status=CredentialStatus.RETIRED, updated_at=now)
            )
        session.add(
            Credential(
                public_id=credential_id,
                customer_id=customer.id or 0,
                device_id=device.id,
                kind=CredentialKind.TOTP,
                wrapped_seed=issued.stored.blob,
                kek_version=issued.stored.kek_version,
                seed_length=issued.stored.length,
                algorithm=self._profile.algorithm.value,
                digits=self._profile.digits,
                period=self._profile.period,
                created_at=now,
                updated_at=now,
            )
        )
        return issued.bundle, list(others)

    def _finish(
        self,
        table: type[Registration] | type[Activation],
        record_id: str,
        customer_id: int,
        device_id: str,
        signed: SignedRequest,
        kind: str,
    ) -> dict[str, Any]:
        """Claim the pending record (exactly once), issue the bundle, audit, notify."""
        now = self._clock()
        actor = f"device:{device_id}"
        credential_id = new_public_id()
        with self._db.transaction() as session:
            record = table.__table__.c  # type: ignore[union-attr]
            claimed = (
                session.connection()
                .execute(
                    update(table)
                    .where(record.id == record_id)
                    .where(record.status == EnrollmentStatus.PENDING)
                    .values(
                        status=EnrollmentStatus.COMPLETED,
                        completed_at=now,
                        credential_id=credential_id,
                    )
                )
                .rowcount
            )
            if claimed != 1:
                raise CodeAlreadyUsed()
            # lock the customer: two enrollments finishing at once must not both stay active
            customer = session.exec(
                select(Customer).where(Customer.id == customer_id).with_for_update()
            ).first()
            if customer is None or customer.status != CustomerStatus.ACTIVE:
                raise CustomerCannotEnrol()
            bundle, retired = self._complete(session, customer, credential_id, device_id, signed)
            # one append: the head is moved and the HSM seals once for all these events
            self._audit.append_many(
                session.connection(),
                [
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
                        action=f"{kind}.complete",
                        subject=customer.username,
                        result="ok",
                        details={kind: record_id, "credential": credential_id},
                    ),
                ],
            )
        self._tell_about_retired(customer, retired, device_id)
        return bundle

    def _tell_about_retired(self, customer: Customer, retired: list[str], device_id: str) -> None:
        if not retired:
            return
        notice = messages.new_token_registered(self.policy.issuer, customer.display_name, device_id)
        try:
            self._mailer.send(customer.email, notice.subject, notice.body)
        except MailError as exc:
            log.warning("enrollment.notice_not_sent", reason=str(exc))

    # -- self-registration -----------------------------------------------------------------

    def start_registration(
        self,
        signed: SignedRequest,
        username: str,
        password: str,
        device_id: str,
        source: str = "",
        code: str | None = None,
    ) -> RegistrationStarted:
        """Check the online-banking password, e-mail a code, remember the device's key.

        A customer who has an active token must also send `code`, a current code from it
        (purpose `new_keys`): the password and the mailbox alone never replace a token. A
        customer who lost the token asks the bank, whose officer revokes it
        (`otp-admin device revoke`); the next enrollment is then a first one.

        The edge has spent the nonce already (`spend_nonce`); the password is checked (and
        throttled) before any other write, and the e-mail goes out after the commit, so no slow
        step ever holds the write lock.
        """
        device_id = ids.normalise(device_id)
        if not ids.is_device_id(device_id):
            raise InvalidInput(WRONG_DEVICE_ID)
        if device_id != ids.device_id_for(signed.public_key):
            raise InvalidInput("the device ID does not belong to the key that signed the request")
        self._refuse_revoked(device_id)
        customer = self._customers.authenticate(username, password, source)
        if self._credentials.has_token(customer):
            # the password and the mailbox together must not move the second factor
            self._approve_new_token(customer, device_id, code, source)
        now = self._clock()
        registration_id = "reg_" + secrets.token_hex(12)
        code = ids.new_email_code(self.policy.email_code_digits)
        digest = self._digest(b"email-code", registration_id, code)
        with self._db.transaction() as session:
            recent = session.exec(
                select(func.count())
                .select_from(Registration)
                .where(Registration.customer_id == customer.id)
                .where(col(Registration.created_at) > now - 3600)
            ).one()
            if recent >= self.policy.registrations_per_hour:
                raise AttemptsExhausted("too many registrations in the last hour: try again later")
            session.add(
                Registration(
                    id=registration_id,
                    customer_id=customer.id or 0,
                    device_id=device_id,
                    public_key=signed.point,
                    code_digest=digest,
                    expires_at=now + self.policy.ttl_seconds,
                    created_at=now,
                )
            )
            self._audit.record(
                session.connection(),
                actor=f"device:{device_id}",
                action="registration.start",
                subject=customer.username,
                result="ok",
                details={"registration": registration_id},
            )
        mail = messages.registration_code(
            self.policy.issuer, customer.display_name, code, self.policy.ttl_seconds
        )
        try:
            self._mailer.send(customer.email, mail.subject, mail.body)
        except MailError as exc:
            with self._db.transaction() as session:
                session.connection().execute(
                    update(Registration)
                    .where(col(Registration.id) == registration_id)
                    .values(status=EnrollmentStatus.FAILED)
                )
                self._audit.record(
                    session.connection(),
                    actor=f"device:{device_id}",
                    action="registration.mail_failed",
                    subject=customer.username,
                    result="failed",
                    details={"registration": registration_id},
                )
            raise ServiceUnavailable(
                "the e-mail with the code could not be sent: try again later"
            ) from exc
        return RegistrationStarted(
            registration_id, mask_address(customer.email), now + self.policy.ttl_seconds
        )

    def confirm_registration(
        self, signed: SignedRequest, registration_id: str, code: str
    ) -> dict[str, Any]:
        """The e-mailed code, from the same token: issue the bundle."""
        now = self._clock()
        with self._db.transaction() as session:
            registration = session.get(Registration, registration_id)
            if registration is None or not hmac.compare_digest(
                registration.public_key, signed.point
            ):
                raise NotFound("no such registration for this token")
            closed = self._closed(session, registration, now)
        if closed is not None:
            raise closed
        allowed = self.policy.email_code_attempts
        if not self._reserve_attempt(Registration, registration_id, allowed):
            raise TooManyWrongCodes()
        given = self._digest(b"email-code", registration_id, code)
        if not hmac.compare_digest(registration.code_digest, given):
            self._void_if_spent(Registration, registration_id, allowed)
            raise InvalidInput("the code is not correct")
        return self._finish(
            Registration,
            registration_id,
            registration.customer_id,
            registration.device_id,
            signed,
            "registration",
        )

    @staticmethod
    def _closed(
        session: Session, record: Registration | Activation, now: float
    ) -> EnrollmentEnded | None:
        """Why `record` cannot take a code any more (marking it expired on time), or None."""
        if record.status == EnrollmentStatus.PENDING and record.expires_at <= now:
            record.status = EnrollmentStatus.EXPIRED
            session.add(record)
        return {
            EnrollmentStatus.PENDING: None,
            EnrollmentStatus.EXPIRED: CodeExpired(),
            EnrollmentStatus.FAILED: TooManyWrongCodes(),
            EnrollmentStatus.COMPLETED: CodeAlreadyUsed(),
        }[EnrollmentStatus(record.status)]

    def _reserve_attempt(
        self, table: type[Registration] | type[Activation], record_id: str, allowed: int
    ) -> bool:
        """Spend one try before the code is compared, in one atomic UPDATE: parallel guesses
        cannot get more than `allowed` comparisons between them."""
        c = table.__table__.c  # type: ignore[union-attr]
        with self._db.engine.begin() as connection:
            return (
                connection.execute(
                    update(table)
                    .where(c.id == record_id)
                    .where(c.status == EnrollmentStatus.PENDING)
                    .where(c.attempts < allowed)
                    .values(attempts=c.attempts + 1)
                ).rowcount
                == 1
            )

    def _void_if_spent(
        self, table: type[Registration] | type[Activation], record_id: str, allowed: int
    ) -> None:
        """After a wrong code: when every try is spent the record is void."""
        c = table.__table__.c  # type: ignore[union-attr]
        with self._db.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(c.id == record_id)
                .where(c.status == EnrollmentStatus.PENDING)
                .where(c.attempts >= allowed)
                .values(status=EnrollmentStatus.FAILED)
            )

    # -- portal activation -----------------------------------------------------------------

    def create_activation(
        self,
        customer: Customer,
        typed_device_id: str,
        token_kind: str,
        *,
        code: str | None = None,
        source: str = "",
    ) -> ActivationIssued:
        """For a logged-in customer: an activation code for the device ID the token shows.

        A customer who already has a token must approve the new one with a code from it
        (purpose `new_keys`): a password alone must never move the second factor.
        """
        if token_kind not in TOKEN_KINDS:
            raise InvalidInput(f"the kind of token is one of: {', '.join(TOKEN_KINDS)}")
        device_id = ids.normalise(typed_device_id)
        if not ids.is_device_id(device_id):
            raise InvalidInput(WRONG_DEVICE_ID)
        self._refuse_revoked(device_id)
        if self._credentials.has_token(customer):
            self._approve_new_token(customer, device_id, code, source)
        now = self._clock()
        activation_id = "act_" + secrets.token_hex(12)
        code = ids.new_activation_code()
        digest = self._digest(b"activation-code", device_id, code)
        with self._db.transaction() as session:
            session.connection().execute(
                update(Activation)
                .where(col(Activation.customer_id) == customer.id)
                .where(col(Activation.status) == EnrollmentStatus.PENDING)
                .values(status=EnrollmentStatus.EXPIRED)
            )
            session.add(
                Activation(
                    id=activation_id,
                    customer_id=customer.id or 0,
                    device_id=device_id,
                    token_kind=token_kind,
                    code_digest=digest,
                    expires_at=now + self.policy.ttl_seconds,
                    created_at=now,
                )
            )
            self._audit.record(
                session.connection(),
                actor=f"customer:{customer.username}",
                action="activation.start",
                subject=customer.username,
                result="ok",
                details={
                    "activation": activation_id,
                    "device": device_id,
                    "token_kind": token_kind,
                },
            )
        return ActivationIssued(activation_id, code, device_id, now + self.policy.ttl_seconds)

    def _approve_new_token(
        self, customer: Customer, device_id: str, code: str | None, source: str
    ) -> None:
        if not code:
            raise NotAllowed("replacing your token needs a code from the token you have now")
        outcome = self._verification.verify(
            VerifyRequest(
                username=customer.username,
                code=code,
                purpose="new_keys",
                client="enrollment",
                source=source,
                transaction={"new_device": device_id},
            )
        )
        if outcome.result is Result.UNAVAILABLE:
            raise ServiceUnavailable("codes cannot be checked right now: try again shortly")
        if outcome.result is not Result.ACCEPTED:
            raise NotAllowed("the code from your current token is not correct")

    def activation_state(self, customer: Customer, activation_id: str) -> Activation:
        """The activation as the portal polls it (`pending` turns `expired` on time)."""
        with self._db.transaction() as session:
            activation = session.get(Activation, activation_id)
            if activation is None or activation.customer_id != customer.id:
                raise NotFound("no such activation")
            self._closed(session, activation, self._clock())
            return activation

    def redeem_activation(
        self, signed: SignedRequest, typed_device_id: str, code: str
    ) -> dict[str, Any]:
        """The token sends the code the portal showed: issue the bundle."""
        device_id = ids.normalise(typed_device_id)
        if device_id != ids.device_id_for(signed.public_key):
            raise InvalidInput(WRONG_ACTIVATION)
        self._refuse_revoked(device_id)
        now = self._clock()
        code = ids.normalise(code)
        with self._db.transaction() as session:
            pending = list(
                session.exec(
                    select(Activation)
                    .where(Activation.device_id == device_id)
                    .where(Activation.status == EnrollmentStatus.PENDING)
                    .order_by(col(Activation.created_at).desc())
                ).all()
            )
            open_ones = [a for a in pending if self._closed(session, a, now) is None]
        if not open_ones:
            if pending:
                raise CodeExpired()
            raise InvalidInput(WRONG_ACTIVATION)
        if not (len(code) == 10 and ids.has_valid_check_digit(code)):
            raise InvalidInput(WRONG_ACTIVATION)  # a typo: not counted as a guess
        given = self._digest(b"activation-code", device_id, code)
        # Several customers may have typed this device ID (one of them perhaps to get in
        # the way): the code says which activation it is.
        allowed = self.policy.activation_code_attempts
        tried = [a for a in open_ones if self._reserve_attempt(Activation, a.id, allowed)]
        chosen = next((a for a in tried if hmac.compare_digest(a.code_digest, given)), None)
        if chosen is None:
            for activation in tried:
                self._void_if_spent(Activation, activation.id, allowed)
            raise InvalidInput(WRONG_ACTIVATION)
        return self._finish(
            Activation, chosen.id, chosen.customer_id, device_id, signed, "activation"
        )
