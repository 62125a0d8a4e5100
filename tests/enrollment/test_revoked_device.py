"""Moving the second factor takes what the attacker lacks: a revoked device never enrolls
again, and an active token is replaced only with a code from it.

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
    support = DeviceSupport(services.credentials, services.audit, services.clock, services.sessions)
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


def test_the_password_and_the_mailbox_do_not_replace_an_active_token(enroll: Enrollment) -> None:
    """The attacker knows Ana's password and reads her mailbox, and has a token of their own."""
    ana = enroll.customer("Ana")
    hers = enroll.token()
    provisioned = enroll.register(hers, ana)
    mails = len(enroll.inbox.for_address(ana.email))

    theirs = enroll.token()
    refused = theirs.start_registration(ana.username, ana.password)
    assert _answer(refused) == (
        403,
        "replacing your token needs a code from the token you have now",
    )
    assert len(enroll.inbox.for_address(ana.email)) == mails  # no code e-mailed
    wrong = theirs.signed(
        "POST",
        "/api/v1/registrations",
        {"username": ana.username, "password": ana.password, "device_id": theirs.device_id,
         "code": "000000" if provisioned.totp().at(enroll.clock()) != "000000" else "111111"},
    )  # fmt: skip
    assert _answer(wrong) == (403, "the code from your current token is not correct")
    enroll.clock.advance(60)
    assert enroll.verify(ana.username, provisioned.totp().at(enroll.clock())) == "accepted"

    # Ana herself, with a code from her current token, moves to a new one
    new = enroll.token()
    current = provisioned.totp().at(enroll.clock() + 60)
    enroll.secrets_used.add(current)
    started = new.signed(
        "POST",
        "/api/v1/registrations",
        {"username": ana.username, "password": ana.password, "device_id": new.device_id,
         "code": current},
    )  # fmt: skip
    assert started.status_code == 202, started.text
    code = enroll.inbox.last_code(ana.email)
    enroll.secrets_used.add(code)
    moved = new.provisioned(new.confirm(started.json()["registration_id"], code))
    enroll.clock.advance(120)
    assert enroll.verify(ana.username, provisioned.totp().at(enroll.clock())) == "rejected"
    assert enroll.verify(ana.username, moved.totp().at(enroll.clock())) == "accepted"
