"""What the HSM's extraction proof means for this server (docs/hsm.md, "What the HSM
enforces"): a missing guarantee keeps the server unready unless the security officer
accepted it (`OTP_HSM_ACCEPT_WEAKNESSES`); each accepted one that the proof finds is
logged and audited once per process, with what the attempt got."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import structlog

from hsm import HsmStatus
from server.db.engine import Database
from server.domain.audit.service import AuditLog

log = structlog.get_logger("server")


@dataclass(frozen=True)
class HsmGuarantees:
    """The proof's verdict as readiness needs it."""

    missing: list[str]
    """Guarantees an attempt broke that no officer accepted: the server is not ready."""
    accepted: list[str]
    """Guarantees an attempt broke that the officer accepted (audited)."""
    reason: str | None
    """Why the server is not ready, for /health/ready (None when it may be)."""


def judge(status: HsmStatus) -> HsmGuarantees:
    """The verdict on `status`'s proof."""
    broken = status.extraction.weaknesses
    missing = status.missing_guarantees
    accepted = [g for g in broken if g not in missing]
    reason = None
    if missing:
        reason = (
            "the HSM lets seeds out: "
            + status.extraction.summary(missing)
            + " (no officer accepted this: OTP_HSM_ACCEPT_WEAKNESSES)"
        )
    return HsmGuarantees(missing, accepted, reason)


class WeaknessAudit:
    """Audits the accepted weaknesses the proof finds: once per process and set."""

    def __init__(self, db: Database, audit: AuditLog, token_label: str) -> None:
        self._db = db
        self._audit = audit
        self._token_label = token_label
        self._done: set[frozenset[str]] = set()
        self._lock = threading.Lock()

    def pending(self, verdict: HsmGuarantees) -> bool:
        """Whether `verdict.accepted` still has to be audited by this process (a read
        only: readiness asks at every probe, and hops to a thread only when it must)."""
        return bool(verdict.accepted) and frozenset(verdict.accepted) not in self._done

    def record(self, status: HsmStatus, verdict: HsmGuarantees) -> None:
        """Log and audit `verdict.accepted` unless this process did for the same set.
        Raises what the database raises (the caller's readiness then says so)."""
        found = frozenset(verdict.accepted)
        with self._lock:
            if not found or found in self._done:
                return
            log.warning(
                "hsm.weakness_accepted",
                guarantees=sorted(found),
                token=self._token_label,
                detail=status.extraction.summary(found),
            )
            with self._db.transaction() as session:
                self._audit.record(
                    session.connection(),
                    actor="server",
                    action="hsm.weakness-accepted",
                    subject=self._token_label,
                    result="accepted",
                    reason="OTP_HSM_ACCEPT_WEAKNESSES",
                    details={
                        "guarantees": sorted(found),
                        "module": status.module,
                        "found": status.extraction.summary(found),
                    },
                )
            self._done.add(found)
