"""Self-registration (PaySecure): the token sends the online-banking login, the bank
e-mails a code, the token sends the code back and gets its bundle.

The order of work lives here; the rules are `rules.py`, the SQL `store.py`, the e-mail's
text `messages.py`, and the steps shared with activation `binding.py`; docs/design.md §3.
"""

from __future__ import annotations

import secrets
from typing import Any

from server.clock import Clock
from server.db.engine import Database
from server.db.models import Registration
from server.domain.audit.service import AuditLog
from server.domain.customers.service import CustomerService
from server.domain.enrollment import device_id as ids
from server.domain.enrollment import messages, store
from server.domain.enrollment.binding import DeviceBinding, current_status
from server.domain.enrollment.rules import (
    EnrollmentPolicy,
    RegistrationStarted,
    code_matches,
    ended,
    expires_at,
    may_start_registration,
    registering_device_id,
    registration_window_start,
    same_token,
)
from server.domain.enrollment.signing import SignedRequest
from server.errors import InvalidInput, NotFound, ServiceUnavailable, TooManyWrongCodes
from server.mail import Mailer, MailError, mask_address

EMAIL_CODE = b"email-code"
"""The purpose the HSM's digest of an e-mailed code is keyed with."""


class RegistrationService:
    """Starts and confirms self-registrations."""

    def __init__(
        self,
        db: Database,
        binding: DeviceBinding,
        audit: AuditLog,
        customers: CustomerService,
        mailer: Mailer,
        clock: Clock,
        policy: EnrollmentPolicy,
    ) -> None:
        self._db = db
        self._binding = binding
        self._audit = audit
        self._customers = customers
        self._mailer = mailer
        self._clock = clock
        self.policy = policy

    def start(
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

        The edge has spent the nonce already (`DeviceBinding.spend_nonce`); the password is
        checked (and throttled) before any other write, and the e-mail goes out after the
        commit, so no slow step ever holds the write lock.
        """
        device_id = registering_device_id(device_id, ids.device_id_for(signed.public_key))
        self._binding.refuse_revoked(device_id)
        customer = self._customers.authenticate(username, password, source)
        self._binding.approve_replacement(customer, device_id, code, source)
        now = self._clock()
        registration_id = "reg_" + secrets.token_hex(12)
        email_code = ids.new_email_code(self.policy.email_code_digits)
        digest = self._binding.code_digest(EMAIL_CODE, registration_id, email_code)
        until = expires_at(now, self.policy)
        with self._db.transaction() as session:
            since = registration_window_start(now)
            may_start_registration(
                store.registrations_since(session, customer.id, since), self.policy
            )
            store.add_registration(
                session,
                registration_id=registration_id,
                customer_id=customer.id or 0,
                device_id=device_id,
                public_key=signed.point,
                code_digest=digest,
                expires_at=until,
                now=now,
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
            self.policy.issuer, customer.display_name, email_code, self.policy.ttl_seconds
        )
        try:
            self._mailer.send(customer.email, mail.subject, mail.body)
        except MailError as exc:
            with self._db.transaction() as session:
                store.fail_registration(session.connection(), registration_id)
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
        return RegistrationStarted(registration_id, mask_address(customer.email), until)

    def confirm(self, signed: SignedRequest, registration_id: str, code: str) -> dict[str, Any]:
        """The e-mailed code, from the same token: issue the bundle.

        Raises:
            NotFound: no such registration, or another token key started it.
            EnrollmentEnded: it expired, was used, or had too many wrong codes.
            InvalidInput: the code is not correct (the try is counted).
        """
        now = self._clock()
        with self._db.transaction() as session:
            registration = store.registration(session, registration_id)
            if registration is None or not same_token(registration.public_key, signed.point):
                raise NotFound("no such registration for this token")
            closed = ended(current_status(session, registration, now))
        if closed is not None:
            raise closed
        allowed = self.policy.email_code_attempts
        with self._db.engine.begin() as connection:
            reserved = store.reserve_attempt(connection, Registration, registration_id, allowed)
        if not reserved:
            raise TooManyWrongCodes()
        given = self._binding.code_digest(EMAIL_CODE, registration_id, code)
        if not code_matches(registration.code_digest, given):
            with self._db.engine.begin() as connection:
                store.void_if_spent(connection, Registration, registration_id, allowed)
            raise InvalidInput("the code is not correct")
        return self._binding.finish(
            Registration,
            registration_id,
            registration.customer_id,
            registration.device_id,
            signed,
            "registration",
        )
