"""Portal activation (INVEX Clave): a logged-in customer types the device ID the token
shows and gets an activation code; the token sends the code and gets its bundle.

The order of work lives here; the rules are `rules.py`, the SQL `store.py`, and the steps
shared with self-registration `binding.py`; docs/design.md §3.
"""

from __future__ import annotations

import secrets
from typing import Any

from server.clock import Clock
from server.db.engine import Database
from server.db.models import Activation, Customer
from server.domain.audit.service import AuditLog
from server.domain.enrollment import device_id as ids
from server.domain.enrollment import store
from server.domain.enrollment.binding import DeviceBinding, current_status
from server.domain.enrollment.rules import (
    WRONG_ACTIVATION,
    ActivationIssued,
    EnrollmentPolicy,
    activation_code_well_formed,
    ended,
    expires_at,
    matching,
    nothing_to_redeem,
    redeeming_device_id,
    token_kind,
    typed_device_id,
)
from server.domain.enrollment.signing import SignedRequest
from server.errors import InvalidInput, NotFound

ACTIVATION_CODE = b"activation-code"
"""The purpose the HSM's digest of an activation code is keyed with."""


class ActivationService:
    """Issues, follows and redeems activation codes."""

    def __init__(
        self,
        db: Database,
        binding: DeviceBinding,
        audit: AuditLog,
        clock: Clock,
        policy: EnrollmentPolicy,
    ) -> None:
        self._db = db
        self._binding = binding
        self._audit = audit
        self._clock = clock
        self.policy = policy

    def create(
        self,
        customer: Customer,
        typed: str,
        kind: str,
        *,
        code: str | None = None,
        source: str = "",
    ) -> ActivationIssued:
        """For a logged-in customer: an activation code for the device ID the token shows.

        A customer who already has a token must approve the new one with a code from it
        (purpose `new_keys`): a password alone must never move the second factor. The
        customer's pending activations end: the new code is the one that counts.
        """
        kind = token_kind(kind)
        device_id = typed_device_id(typed)
        self._binding.refuse_revoked(device_id)
        self._binding.approve_replacement(customer, device_id, code, source)
        now = self._clock()
        activation_id = "act_" + secrets.token_hex(12)
        activation_code = ids.new_activation_code()
        digest = self._binding.code_digest(ACTIVATION_CODE, device_id, activation_code)
        until = expires_at(now, self.policy)
        with self._db.transaction() as session:
            store.expire_pending_activations(session.connection(), customer.id)
            store.add_activation(
                session,
                activation_id=activation_id,
                customer_id=customer.id or 0,
                device_id=device_id,
                token_kind=kind,
                code_digest=digest,
                expires_at=until,
                now=now,
            )
            self._audit.record(
                session.connection(),
                actor=f"customer:{customer.username}",
                action="activation.start",
                subject=customer.username,
                result="ok",
                details={"activation": activation_id, "device": device_id, "token_kind": kind},
            )
        return ActivationIssued(activation_id, activation_code, device_id, until)

    def state(self, customer: Customer, activation_id: str) -> Activation:
        """The activation as the portal polls it (`pending` turns `expired` on time).

        Raises:
            NotFound: no such activation of this customer.
        """
        with self._db.transaction() as session:
            activation = store.activation(session, activation_id)
            if activation is None or activation.customer_id != customer.id:
                raise NotFound("no such activation")
            current_status(session, activation, self._clock())
            return activation

    def redeem(self, signed: SignedRequest, typed: str, code: str) -> dict[str, Any]:
        """The token sends the code the portal showed: issue the bundle.

        Raises:
            InvalidInput: the device ID or the code is not correct (one answer for both).
            CodeExpired: every activation of the device ID expired.
        """
        device_id = redeeming_device_id(typed, ids.device_id_for(signed.public_key))
        self._binding.refuse_revoked(device_id)
        now = self._clock()
        code = ids.normalise(code)
        with self._db.transaction() as session:
            pending = store.pending_activations(session, device_id)
            open_ones = [a for a in pending if ended(current_status(session, a, now)) is None]
        if not open_ones:
            raise nothing_to_redeem(len(pending))
        if not activation_code_well_formed(code):
            raise InvalidInput(WRONG_ACTIVATION)  # a typo: not counted as a guess
        given = self._binding.code_digest(ACTIVATION_CODE, device_id, code)
        allowed = self.policy.activation_code_attempts
        tried = [a for a in open_ones if self._reserve_attempt(a.id, allowed)]
        chosen = matching([a.code_digest for a in tried], given)
        if chosen is None:
            for activation in tried:
                with self._db.engine.begin() as connection:
                    store.void_if_spent(connection, Activation, activation.id, allowed)
            raise InvalidInput(WRONG_ACTIVATION)
        activation = tried[chosen]
        return self._binding.finish(
            Activation, activation.id, activation.customer_id, device_id, signed, "activation"
        )

    def _reserve_attempt(self, activation_id: str, allowed: int) -> bool:
        with self._db.engine.begin() as connection:
            return store.reserve_attempt(connection, Activation, activation_id, allowed)
