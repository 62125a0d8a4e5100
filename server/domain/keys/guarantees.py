"""The accepted weaknesses of the HSM's extraction proof, logged and audited once per
process with what the attempt got (docs/hsm.md, "What the HSM enforces"). The verdict
itself, `judge`, is a pure rule in `rules.py`."""

from __future__ import annotations

import threading

import structlog

from hsm import HsmStatus
from server.db.engine import Database
from server.domain.audit.service import AuditLog
from server.domain.keys.rules import HsmGuarantees

log = structlog.get_logger("server")


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
