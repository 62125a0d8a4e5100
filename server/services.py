"""The services of one app instance, wired once from the settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from hsm import HsmPort
from server.clock import Clock
from server.db.engine import Database
from server.domain.audit.anchor import AnchorFile
from server.domain.audit.service import AuditLog
from server.domain.clients.services import ClientService
from server.domain.credentials.service import CredentialService
from server.domain.customers.rules import LoginPolicy
from server.domain.customers.service import CustomerService, PasswordPolicy, Passwords
from server.domain.enrollment.activation import ActivationService
from server.domain.enrollment.binding import DeviceBinding
from server.domain.enrollment.registration import RegistrationService
from server.domain.enrollment.rules import EnrollmentPolicy
from server.domain.keys.guarantees import WeaknessAudit
from server.domain.sessions.rules import SessionPolicy
from server.domain.sessions.service import PortalSessions
from server.domain.verification.batching import VerifyBatcher
from server.domain.verification.rules import VerifyPolicy
from server.domain.verification.service import VerificationService
from server.mail import Mailer
from server.metrics import Metrics
from server.settings import Settings


@dataclass
class Services:
    """Everything a controller or the admin tool may call."""

    settings: Settings
    db: Database
    hsm: HsmPort
    clock: Clock
    metrics: Metrics
    audit: AuditLog
    customers: CustomerService
    clients: ClientService
    credentials: CredentialService
    verification: VerificationService
    verify_batcher: VerifyBatcher
    binding: DeviceBinding
    registration: RegistrationService
    activation: ActivationService
    weakness_audit: WeaknessAudit
    sessions: PortalSessions

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        hsm: HsmPort,
        clock: Clock,
        db: Database | None = None,
        mailer: Mailer | None = None,
    ) -> Services:
        db = db or Database.from_url(settings.database_url)
        metrics = Metrics()
        anchor = settings.audit_anchor_file
        audit = AuditLog(hsm, clock, AnchorFile(anchor) if anchor is not None else None)
        passwords = Passwords(
            PasswordPolicy(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
        )
        policy = verify_policy(settings)
        enrollment_policy = enrollment_policy_of(settings)
        verification = VerificationService(db, hsm, audit, clock, policy, metrics)
        customers = CustomerService(db, passwords, clock, login_policy_of(settings))
        credentials = CredentialService(db, hsm, audit, clock)
        mailer = mailer or settings.mailer()
        binding = DeviceBinding(
            db, hsm, audit, credentials, verification, mailer, clock, enrollment_policy
        )
        return cls(
            settings=settings,
            db=db,
            hsm=hsm,
            clock=clock,
            metrics=metrics,
            audit=audit,
            customers=customers,
            clients=ClientService(clock, settings.client_cache_seconds),
            credentials=credentials,
            verification=verification,
            verify_batcher=VerifyBatcher(verification, settings.verify_max_batch, metrics),
            binding=binding,
            registration=RegistrationService(
                db, binding, audit, customers, mailer, clock, enrollment_policy
            ),
            activation=ActivationService(db, binding, audit, clock, enrollment_policy),
            weakness_audit=WeaknessAudit(db, audit, settings.hsm_token_label),
            sessions=PortalSessions(db, audit, clock, session_policy_of(settings)),
        )


ENROLLMENT_SETTINGS: dict[str, str] = {
    "issuer": "issuer",
    "email_code_digits": "email_code_digits",
    "ttl_seconds": "enrollment_ttl_seconds",
    "email_code_attempts": "email_code_attempts",
    "activation_code_attempts": "activation_code_attempts",
    "clock_skew_seconds": "request_clock_skew_seconds",
    "registrations_per_hour": "registrations_per_hour",
}
"""Which setting gives each field of `EnrollmentPolicy` (a test checks that every field has
one, so that none is silently left at its default)."""

LOGIN_SETTINGS: dict[str, str] = {
    "failures": "portal_login_failures",
    "window_seconds": "portal_login_window_seconds",
}
"""Which setting gives each field of `LoginPolicy` (checked like `ENROLLMENT_SETTINGS`)."""


SESSION_SETTINGS: dict[str, str] = {
    "idle_seconds": "portal_idle_seconds",
    "max_seconds": "portal_max_seconds",
}
"""Which setting gives each field of `SessionPolicy` (checked like `ENROLLMENT_SETTINGS`)."""


def verify_policy(settings: Settings) -> VerifyPolicy:
    """`VerifyPolicy` from the settings of the same names, every field of it."""
    return VerifyPolicy(**{f.name: getattr(settings, f.name) for f in fields(VerifyPolicy)})


def enrollment_policy_of(settings: Settings) -> EnrollmentPolicy:
    """`EnrollmentPolicy` from the settings `ENROLLMENT_SETTINGS` names."""
    return EnrollmentPolicy(**_named(settings, ENROLLMENT_SETTINGS))


def login_policy_of(settings: Settings) -> LoginPolicy:
    """`LoginPolicy` from the settings `LOGIN_SETTINGS` names."""
    return LoginPolicy(**_named(settings, LOGIN_SETTINGS))


def session_policy_of(settings: Settings) -> SessionPolicy:
    """`SessionPolicy` from the settings `SESSION_SETTINGS` names."""
    return SessionPolicy(**_named(settings, SESSION_SETTINGS))


def _named(settings: Settings, names: dict[str, str]) -> dict[str, Any]:
    """Each policy field's value, from the setting `names` gives it."""
    return {field: getattr(settings, name) for field, name in names.items()}
