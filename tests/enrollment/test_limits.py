"""Every way an enrollment can go wrong gives its clear error and leaves nothing half-made."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.enrollment.conftest import Enrollment, Person
from tests.enrollment.token_client import TokenClient


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def _activation(enroll: Enrollment, token: TokenClient, person: Person) -> dict:  # type: ignore[type-arg]
    issued = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(person),
        json={"device_id": token.device_id, "token_kind": "hardware"},
    )
    assert issued.status_code == 201, issued.text
    enroll.secrets_used.add(issued.json()["activation_code"].replace(" ", ""))
    return issued.json()  # type: ignore[no-any-return]


def _wrong_activation_code(code: str) -> str:
    """Another code with a valid check digit (a real guess, not a typo)."""
    from server.domain.enrollment.device_id import check_digit

    digits = code.replace(" ", "")
    body = f"{(int(digits[:9]) + 1) % 10**9:09d}"
    return body + check_digit(body)


def test_wrong_password_and_unknown_user_look_the_same(enroll: Enrollment) -> None:
    ana = enroll.customer()
    token = enroll.token()
    wrong = token.start_registration(ana.username, ana.password + "x")
    unknown = token.start_registration("nobody-at-all", "whatever-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert enroll.inbox.for_address(ana.email) == []


def test_sixth_wrong_email_code_and_the_right_one_after(enroll: Enrollment) -> None:
    before = enroll.counts()
    ana = enroll.customer()
    token = enroll.token()
    registration_id, code = enroll.start(token, ana)
    for _ in range(5):
        answer = token.confirm(registration_id, _wrong(code))
        assert (answer.status_code, answer.json()["detail"]) == (400, "the code is not correct")
    sixth = token.confirm(registration_id, _wrong(code))
    assert (sixth.status_code, sixth.json()["detail"]) == (410, "too many wrong codes: start again")
    late = token.confirm(registration_id, code)
    assert late.status_code == 410
    after = enroll.counts()
    assert (after["credentials"], after["devices"]) == (before["credentials"], before["devices"])


def test_fourth_wrong_activation_code(enroll: Enrollment) -> None:
    before = enroll.counts()
    bea = enroll.customer()
    token = enroll.token()
    activation = _activation(enroll, token, bea)
    guess = _wrong_activation_code(activation["activation_code"])
    for _ in range(3):
        answer = token.redeem(guess)
        assert answer.status_code == 400
        assert answer.json()["detail"] == (
            "the device ID or the activation code is not correct: try again"
        )
    fourth = token.redeem(activation["activation_code"])
    assert fourth.status_code == 400
    state = enroll.client.get(
        f"/api/v1/activations/{activation['activation_id']}", auth=enroll.portal_auth(bea)
    ).json()
    assert state["state"] == "failed"
    assert enroll.counts()["credentials"] == before["credentials"]


def test_a_typo_in_the_activation_code_does_not_count(enroll: Enrollment) -> None:
    bea = enroll.customer()
    token = enroll.token()
    activation = _activation(enroll, token, bea)
    code = activation["activation_code"].replace(" ", "")
    typo = (
        code[:3] + code[4] + code[3] + code[5:]
        if code[3] != code[4]
        else (code[:3] + str((int(code[3]) + 1) % 10) + code[4:])
    )
    for _ in range(5):
        assert token.redeem(typo).status_code == 400
    assert token.provisioned(token.redeem(code)).bundle["device_id"] == token.device_id


def test_expired_codes(enroll: Enrollment) -> None:
    ana, bea = enroll.customer(), enroll.customer()
    token = enroll.token()
    registration_id, code = enroll.start(token, ana)
    activation = _activation(enroll, token, bea)
    enroll.clock.advance(601)
    late = token.confirm(registration_id, code)
    assert (late.status_code, late.json()["detail"]) == (410, "the code has expired: start again")
    late = token.redeem(activation["activation_code"])
    assert (late.status_code, late.json()["detail"]) == (410, "the code has expired: start again")
    state = enroll.client.get(
        f"/api/v1/activations/{activation['activation_id']}", auth=enroll.portal_auth(bea)
    ).json()
    assert state["state"] == "expired"


def test_replayed_confirm_and_redeem(enroll: Enrollment) -> None:
    ana, bea = enroll.customer(), enroll.customer()
    token = enroll.token()
    registration_id, code = enroll.start(token, ana)
    token.provisioned(token.confirm(registration_id, code))
    replayed = token.replay_last()
    assert replayed.status_code == 401
    assert "replayed" in replayed.json()["detail"]
    again = token.confirm(registration_id, code)  # a fresh nonce, the same code
    assert (again.status_code, again.json()["detail"]) == (410, "this code was used already")

    activation = _activation(enroll, token, bea)
    token.provisioned(token.redeem(activation["activation_code"]))
    assert token.replay_last().status_code == 401
    assert token.redeem(activation["activation_code"]).status_code == 400


def _replayed(token: TokenClient) -> tuple[int, str]:
    answer = token.replay_last()
    return answer.status_code, answer.json()["detail"]


REPLAYED = (401, "this request was sent before: a replayed request is refused")


def test_every_signed_request_is_spent_whatever_its_answer(enroll: Enrollment) -> None:
    """The attacker who captured a signed request learns nothing from sending it again: the
    second copy is refused as a replay whether the first one succeeded or failed."""
    ana = enroll.customer()
    token, other = enroll.token(), enroll.token()

    assert token.start_registration(ana.username, ana.password + "x").status_code == 401
    assert _replayed(token) == REPLAYED
    assert token.start_registration(ana.username, "").status_code in (400, 401)
    assert _replayed(token) == REPLAYED
    mismatched = token.signed(
        "POST",
        "/api/v1/registrations",
        {"username": ana.username, "password": ana.password, "device_id": other.device_id},
    )
    assert mismatched.status_code == 400
    assert _replayed(token) == REPLAYED

    registration_id, code = enroll.start(token, ana)
    assert other.confirm(registration_id, code).status_code == 404  # another key's confirm
    assert _replayed(other) == REPLAYED
    assert token.confirm(registration_id, _wrong(code)).status_code == 400
    assert _replayed(token) == REPLAYED
    assert token.signed("DELETE", "/api/v1/credentials/cred_unknown").status_code == 404
    assert _replayed(token) == REPLAYED
    assert token.redeem("0000000000").status_code == 400
    assert _replayed(token) == REPLAYED
    # the replays cost the rightful token nothing: its right code still works
    assert token.provisioned(token.confirm(registration_id, code)).bundle


def test_a_mistyped_device_id_is_named_as_a_typo(enroll: Enrollment) -> None:
    ana = enroll.customer()
    token = enroll.token()
    last = int(token.device_id[-1])
    typo = token.device_id[:-1] + str((last + 1) % 10)  # a wrong check digit
    answer = token.signed(
        "POST",
        "/api/v1/registrations",
        {"username": ana.username, "password": ana.password, "device_id": typo},
    )
    assert (answer.status_code, answer.json()["detail"]) == (
        400,
        "the device ID is not correct: check the 16 digits on the token",
    )
    other = enroll.token()  # a real device ID, but of another key
    answer = token.signed(
        "POST",
        "/api/v1/registrations",
        {"username": ana.username, "password": ana.password, "device_id": other.device_id},
    )
    assert (
        answer.json()["detail"]
        == "the device ID does not belong to the key that signed the request"
    )
    assert enroll.inbox.for_address(ana.email) == []


def test_requests_signed_by_another_key(enroll: Enrollment) -> None:
    ana = enroll.customer()
    token = enroll.token()
    registration_id, code = enroll.start(token, ana)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = token.signed(
        "POST", f"/api/v1/registrations/{registration_id}/confirm", {"code": code}, signer=stranger
    )
    assert (forged.status_code, forged.json()["detail"]) == (
        401,
        "the request signature does not verify",
    )
    other_token = enroll.token()
    stolen = other_token.confirm(registration_id, code)
    assert stolen.status_code == 404
    # the rightful token still can
    assert token.provisioned(token.confirm(registration_id, code)).bundle


def test_unsigned_and_stale_requests(enroll: Enrollment) -> None:
    unsigned = enroll.client.post(
        "/api/v1/registrations", json={"username": "a", "password": "b", "device_id": "1"}
    )
    assert unsigned.status_code == 401
    assert "must be signed" in unsigned.json()["detail"]
    token = enroll.token()
    token.offset -= 400  # the token's clock is six minutes late
    stale = token.start_registration("a", "b")
    assert stale.status_code == 401
    assert "clock" in stale.json()["detail"]


def test_device_id_typos_are_caught_in_the_portal(enroll: Enrollment) -> None:
    bea = enroll.customer()
    device_id = enroll.token().device_id
    variants = set()
    for i in range(16):
        for digit in "0123456789":
            if digit != device_id[i]:
                variants.add(device_id[:i] + digit + device_id[i + 1 :])
    for i in range(15):
        if device_id[i] != device_id[i + 1]:
            variants.add(device_id[:i] + device_id[i + 1] + device_id[i] + device_id[i + 2 :])
    assert len(variants) >= 150
    for typed in variants:
        answer = enroll.client.post(
            "/api/v1/activations",
            auth=enroll.portal_auth(bea),
            json={"device_id": typed, "token_kind": "hardware"},
        )
        assert answer.status_code == 400, typed
        assert "the device ID is not correct" in answer.json()["detail"]


def test_the_device_id_must_be_the_signing_keys(enroll: Enrollment) -> None:
    ana = enroll.customer()
    token, other = enroll.token(), enroll.token()
    claimed = token.signed(
        "POST",
        "/api/v1/registrations",
        {"username": ana.username, "password": ana.password, "device_id": other.device_id},
    )
    assert claimed.status_code == 400
    assert "does not belong to the key" in claimed.json()["detail"]


def test_portal_login_is_required_and_checked(enroll: Enrollment) -> None:
    bea = enroll.customer()
    body = {"device_id": enroll.token().device_id, "token_kind": "hardware"}
    assert enroll.client.post("/api/v1/activations", json=body).status_code == 401
    assert (
        enroll.client.post(
            "/api/v1/activations", json=body, auth=(bea.username, "wrong-password")
        ).status_code
        == 401
    )
    other = enroll.customer()
    activation = enroll.client.post(
        "/api/v1/activations", json=body, auth=enroll.portal_auth(bea)
    ).json()
    enroll.secrets_used.add(activation["activation_code"].replace(" ", ""))
    peek = enroll.client.get(
        f"/api/v1/activations/{activation['activation_id']}", auth=enroll.portal_auth(other)
    )
    assert peek.status_code == 404


@pytest.mark.parametrize("kind", ["smartwatch", ""])
def test_unknown_token_kind(enroll: Enrollment, kind: str) -> None:
    bea = enroll.customer()
    answer = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(bea),
        json={"device_id": enroll.token().device_id, "token_kind": kind},
    )
    assert answer.status_code == 400


def test_mail_server_down_leaves_no_usable_registration(enroll: Enrollment) -> None:
    from server.mail import SmtpMailer
    from tests.server.processes import free_port

    ana = enroll.customer()
    enroll.services.registration._mailer = SmtpMailer(
        "127.0.0.1", free_port(), "x@example.com", security="none", timeout=2
    )
    answer = enroll.token().start_registration(ana.username, ana.password)
    assert answer.status_code == 503
    assert "could not be sent" in answer.json()["detail"]
    from sqlmodel import select

    from server.db.models import Registration

    with enroll.services.db.transaction() as session:
        left = session.exec(select(Registration)).all()
    assert [r.status for r in left] == ["failed"]  # nobody can confirm it


def test_password_guessing_is_throttled_on_the_api(enroll: Enrollment) -> None:
    ana = enroll.customer()
    token = enroll.token()
    for _ in range(10):
        assert token.start_registration(ana.username, "not-the-password").status_code == 401
    blocked = token.start_registration(ana.username, ana.password)
    assert blocked.status_code == 429
    body = {"device_id": token.device_id}
    assert (
        enroll.client.post(
            "/api/v1/activations", json=body, auth=enroll.portal_auth(ana)
        ).status_code
        == 429
    )
    enroll.clock.advance(900)
    assert token.start_registration(ana.username, ana.password).status_code == 202


def test_unicode_digits_in_a_device_id_are_refused_cleanly(enroll: Enrollment) -> None:
    bea = enroll.customer()
    answer = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(bea),
        json={"device_id": "1234567812345678\u00b2"},
    )
    assert answer.status_code == 400


def test_someone_else_typing_my_device_id_cannot_push_my_activation_out(
    enroll: Enrollment,
) -> None:
    bea, intruder = enroll.customer(), enroll.customer()
    token = enroll.token()
    mine = _activation(enroll, token, bea)
    _activation(enroll, token, intruder)  # newer, for the same device ID
    provisioned = token.provisioned(token.redeem(mine["activation_code"]))
    assert provisioned.bundle["username"] == bea.username


def test_parallel_wrong_codes_get_no_more_tries_than_allowed(enroll: Enrollment) -> None:
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from server.domain.enrollment.signing import SignedRequest
    from server.errors import EnrollmentEnded, InvalidInput

    ana = enroll.customer()
    token = enroll.token()
    registration_id, code = enroll.start(token, ana)
    signed = [
        SignedRequest(token.key.public_key(), token.point, secrets.token_hex(16)) for _ in range(20)
    ]

    def guess(request: SignedRequest) -> str:
        try:
            enroll.services.registration.confirm(request, registration_id, _wrong(code))
        except InvalidInput:
            return "compared"
        except EnrollmentEnded:
            return "refused"
        return "accepted"

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(guess, signed))
    assert answers.count("compared") == 5, answers
    assert answers.count("refused") == 15
