"""Revoking a customer's device or credential: its codes stop at once, and so do the
customer's portal sessions (whoever holds the token may have opened them)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from server.clock import Clock
from server.db.models import Credential, CredentialStatus, Device, DeviceStatus
from server.domain.audit.service import AuditLog
from server.domain.credentials.service import CredentialService
from server.domain.enrollment.device_id import normalise
from server.domain.sessions.rules import EndReason
from server.domain.sessions.service import PortalSessions
from server.errors import Conflict, NotFound


class DeviceSupport:
    """Support actions on devices (the customer's hardware token or emulator) and the
    credentials on them."""

    def __init__(
        self,
        credentials: CredentialService,
        audit: AuditLog,
        clock: Clock,
        sessions: PortalSessions,
    ) -> None:
        self._credentials = credentials
        self._audit = audit
        self._clock = clock
        self._sessions = sessions

    def revoke(self, session: Session, device_id: str, actor: str) -> list[str]:
        """Revoke every active credential bound to the device and mark the device revoked.

        Each credential's revocation is audited on its own (`credential.revoke`), then the
        device's (`device.revoke`, with how many portal sessions of its customers ended).

        Returns:
            The public ids of the credentials revoked.

        Raises:
            NotFound: no device with this ID.
            Conflict: the device is revoked already and has no active credential.
        """
        wanted = normalise(device_id)
        device = session.exec(select(Device).where(Device.device_id == wanted)).first()
        if device is None:
            raise NotFound(f"no device {wanted!r}")
        active = session.exec(
            select(Credential.public_id)
            .where(Credential.device_id == device.id)
            .where(Credential.status == CredentialStatus.ACTIVE)
            .order_by(col(Credential.id))
        ).all()
        if not active and device.status == DeviceStatus.REVOKED:
            raise Conflict(f"device {wanted} is revoked already")
        holders = session.exec(
            select(Credential.customer_id).where(Credential.device_id == device.id).distinct()
        ).all()
        for public_id in active:
            self._credentials.revoke(session, public_id, actor)
        device.status = DeviceStatus.REVOKED
        session.add(device)
        ended = self._sessions.end_of_customers(
            session.connection(), list(holders), EndReason.DEVICE_REVOKED
        )
        self._audit.record(
            session.connection(),
            actor=actor,
            action="device.revoke",
            subject=wanted,
            result="ok",
            details={"credentials": list(active), "sessions_ended": ended},
        )
        return list(active)

    def revoke_credential(self, session: Session, public_id: str, actor: str) -> int:
        """Revoke one credential (`credential.revoke`, audited) and end its customer's
        portal sessions; returns how many sessions ended.

        Raises:
            NotFound: no such credential.
            Conflict: it is not active.
        """
        revoked = self._credentials.revoke(session, public_id, actor)
        return self._sessions.end_of_customers(
            session.connection(), [revoked.customer_id], EndReason.CREDENTIAL_REVOKED
        )
