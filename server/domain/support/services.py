"""Revoking a customer's device: every active credential bound to it stops at once."""

from __future__ import annotations

from sqlmodel import Session, col, select

from server.clock import Clock
from server.db.models import Credential, CredentialStatus, Device, DeviceStatus
from server.domain.audit.services import AuditLog
from server.domain.credentials.services import CredentialService
from server.domain.enrollment.device_id import normalise
from server.errors import Conflict, NotFound


class DeviceSupport:
    """Support actions on devices (the customer's hardware token or emulator)."""

    def __init__(self, credentials: CredentialService, audit: AuditLog, clock: Clock) -> None:
        self._credentials = credentials
        self._audit = audit
        self._clock = clock

    def revoke(self, session: Session, device_id: str, actor: str) -> list[str]:
        """Revoke every active credential bound to the device and mark the device revoked.

        Each credential's revocation is audited on its own (`credential.revoke`), then the
        device's (`device.revoke`).

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
        for public_id in active:
            self._credentials.revoke(session, public_id, actor)
        device.status = DeviceStatus.REVOKED
        session.add(device)
        self._audit.record(
            session.connection(),
            actor=actor,
            action="device.revoke",
            subject=wanted,
            result="ok",
            details={"credentials": list(active)},
        )
        return list(active)
