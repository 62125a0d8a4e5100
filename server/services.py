"""The services of one app instance, wired once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from hsm import Hsm
from server.clock import Clock
from server.db.engine import Database
from server.domain.audit.services import AuditLog
from server.domain.clients.services import ClientService
from server.domain.credentials.services import CredentialService
from server.domain.customers.services import CustomerService, PasswordPolicy, Passwords
from server.domain.enrollment.services import EnrollmentPolicy, EnrollmentService
from server.domain.keys.guarantees import WeaknessAudit
from server.domain.verification.batching import VerifyBatcher
from server.domain.verification.services import VerificationService, VerifyPolicy
from server.mail import Mailer
from server.metrics import Metrics
from server.settings import Settings


@dataclass
class Services:
    """Everything a controller or the admin tool may call."""

    settings: Settings
    db: Database
    hsm: Hsm
    clock: Clock
    metrics: Metrics
    audit: AuditLog
    customers: CustomerService
    clients: ClientService
    credentials: CredentialService
    verification: VerificationService
    verify_batcher: VerifyBatcher
    enrollment: EnrollmentService
    weakness_audit: WeaknessAudit

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        hsm: Hsm,
        clock: Clock,
        db: Database | None = None,
        mailer: Mailer | None = None,
    ) -> Services:
        db = db or Database.from_url(settings.database_url)
        metrics = Metrics()
        audit = AuditLog(hsm, clock)
        passwords = Passwords(
            PasswordPolicy(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
        )
        policy = VerifyPolicy(
            totp_window=settings.totp_window,
            hotp_look_ahead=settings.hotp_look_ahead,
            lockout_threshold=settings.lockout_threshold,
            lockout_base_seconds=settings.lockout_base_seconds,
            lockout_max_seconds=settings.lockout_max_seconds,
            source_failure_limit=settings.source_failure_limit,
            source_window_seconds=settings.source_window_seconds,
        )
        enrollment_policy = EnrollmentPolicy(
            issuer=settings.issuer,
            email_code_digits=settings.email_code_digits,
            ttl_seconds=settings.enrollment_ttl_seconds,
            email_code_attempts=settings.email_code_attempts,
            activation_code_attempts=settings.activation_code_attempts,
            clock_skew_seconds=settings.request_clock_skew_seconds,
            password_failures=settings.portal_login_failures,
            password_window_seconds=settings.portal_login_window_seconds,
        )
        verification = VerificationService(db, hsm, audit, clock, policy, metrics)
        return cls(
            settings=settings,
            db=db,
            hsm=hsm,
            clock=clock,
            metrics=metrics,
            audit=audit,
            customers=CustomerService(passwords, clock),
            clients=ClientService(clock, settings.client_cache_seconds),
            credentials=CredentialService(hsm, audit, clock),
            verification=verification,
            verify_batcher=VerifyBatcher(verification, settings.verify_max_batch, metrics),
            enrollment=EnrollmentService(
                db,
                hsm,
                audit,
                passwords,
                mailer or settings.mailer(),
                clock,
                enrollment_policy,
                verification,
            ),
            weakness_audit=WeaknessAudit(db, audit, settings.hsm_token_label),
        )
