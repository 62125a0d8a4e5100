"""A stolen token stays out: once an officer revokes a device, its key never enrolls again.

The attacker holds the revoked token (its key and device ID) and the customer's online-banking
password: before, the customer had no active token left, so the password alone enrolled the
stolen device again and its codes were accepted."""

from __future__ import annotations

from tests.enrollment.conftest import Enrollment
from tests.enrollment.token_client import TokenClient

REVOKED = (403, "this token was revoked and cannot be enrolled again: ask the bank for a new one")


def _revoke(enroll: Enrollment, token: TokenClient) -> list[str]:
    """What `otp-admin device revoke DEVICE_ID` does."""
    from server.domain.support.services import DeviceSupport

    services = enroll.services
    support = DeviceSupport(services.credentials, services.audit, services.clock)
    with services.db.transaction() as session:
        return support.revoke(session, token.device_id, "officer")


def _answer(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return response.status_code, response.json()["detail"]


def test_a_revoked_token_cannot_come_back_by_any_enrollment_path(enroll: Enrollment) -> None:
    ana, bea, carl = enroll.customer("Ana"), enroll.customer("Bea"), enroll.customer("Carl")
    stolen = enroll.token()
    provisioned = enroll.register(stolen, ana)
    # enrollments under way when the token is reported stolen
    carl_registration, carl_code = enroll.start(stolen, carl)
    pending = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(bea),
        json={"device_id": stolen.device_id, "token_kind": "hardware"},
    )
    assert pending.status_code == 201
    bea_code = pending.json()["activation_code"]
    enroll.secrets_used.add(bea_code.replace(" ", ""))

    assert _revoke(enroll, stolen) == [provisioned.bundle["credential_id"]]
    enroll.clock.advance(60)
    assert enroll.verify(ana.username, provisioned.totp().at(enroll.clock())) == "rejected"
    mails_before = len(enroll.inbox.for_address(ana.email))

    # the thief, with the password: self-registration
    assert _answer(stolen.start_registration(ana.username, ana.password)) == REVOKED
    assert len(enroll.inbox.for_address(ana.email)) == mails_before  # no code e-mailed
    # ... the portal/API activation, now that Ana has no active token
    retyped = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(ana),
        json={"device_id": stolen.device_id, "token_kind": "hardware"},
    )
    assert _answer(retyped) == REVOKED
    # ... and finishing what was started before the revocation
    assert _answer(stolen.redeem(bea_code)) == REVOKED
    assert _answer(stolen.confirm(carl_registration, carl_code)) == REVOKED
    counts = enroll.counts()

    # the customer's new token enrolls as a first token does
    replacement = enroll.token()
    fresh = enroll.register(replacement, ana)
    enroll.clock.advance(60)
    assert enroll.verify(ana.username, fresh.totp().at(enroll.clock())) == "accepted"
    assert enroll.counts()["credentials"] == counts["credentials"] + 1
