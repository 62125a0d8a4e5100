"""Both enrollment flows end to end: e-mail over SMTP, bundle opened by the protocol client,
codes accepted by /api/v1/verify and equal to oathtool's."""

from __future__ import annotations

from tests.enrollment.conftest import Enrollment
from tests.oracles import oathtool_totp


def _codes_work(enroll: Enrollment, username: str, provisioned) -> None:  # type: ignore[no-untyped-def]
    now = enroll.clock()
    totp = provisioned.totp()
    code = totp.at(now)
    assert code == oathtool_totp(
        provisioned.seed,
        provisioned.bundle["algorithm"],
        provisioned.bundle["digits"],
        provisioned.bundle["period"],
        int(now),
    )
    assert enroll.verify(username, code) == "accepted"
    assert enroll.verify(username, code) == "rejected"  # once only


def test_self_registration_end_to_end(enroll: Enrollment) -> None:
    ana = enroll.customer("Ana Pérez")
    token = enroll.token()
    started = token.start_registration(ana.username, ana.password)
    assert started.status_code == 202
    body = started.json()
    assert body["masked_email"] == "a***@example.com"
    assert body["expires_at"] - enroll.clock() == 600
    message = enroll.inbox.for_address(ana.email)[-1]
    assert "Banco de Pruebas" in message["Subject"]
    code = enroll.inbox.last_code(ana.email)
    enroll.secrets_used.add(code)
    assert len(code) == 8
    provisioned = token.provisioned(token.confirm(body["registration_id"], code))
    bundle = provisioned.bundle
    assert (bundle["username"], bundle["display_name"]) == (ana.username, "Ana Pérez")
    assert (bundle["algorithm"], bundle["digits"], bundle["period"]) == ("SHA1", 6, 60)
    assert len(provisioned.seed) == bundle["seed_length"] == 20
    enroll.secrets_used.add(provisioned.seed.hex())
    _codes_work(enroll, ana.username, provisioned)


def test_portal_activation_end_to_end(enroll: Enrollment) -> None:
    bea = enroll.customer("Beatriz")
    token = enroll.token()
    issued = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(bea),
        json={
            "device_id": " ".join(token.device_id[i : i + 4] for i in range(0, 16, 4)),
            "token_kind": "hardware",
        },
    )
    assert issued.status_code == 201, issued.text
    activation = issued.json()
    code = activation["activation_code"]
    enroll.secrets_used.add(code.replace(" ", ""))
    assert len(code.replace(" ", "")) == 10
    state = enroll.client.get(
        f"/api/v1/activations/{activation['activation_id']}", auth=enroll.portal_auth(bea)
    ).json()
    assert state["state"] == "pending"
    provisioned = token.provisioned(token.redeem(code))
    enroll.secrets_used.add(provisioned.seed.hex())
    state = enroll.client.get(
        f"/api/v1/activations/{activation['activation_id']}", auth=enroll.portal_auth(bea)
    ).json()
    assert state["state"] == "completed"
    assert state["credential_id"] == provisioned.bundle["credential_id"]
    _codes_work(enroll, bea.username, provisioned)


def test_several_customers_on_one_token_and_deleting_one(enroll: Enrollment) -> None:
    token = enroll.token()
    people = [enroll.customer() for _ in range(3)]
    creds = [
        enroll.register(token, people[0]),
        enroll.register(token, people[1]),
        enroll.activate(token, people[2]),
    ]
    for person, provisioned in zip(people, creds, strict=True):
        assert enroll.verify(person.username, provisioned.totp().at(enroll.clock())) == "accepted"
    enroll.clock.advance(60)
    gone = token.signed("DELETE", f"/api/v1/credentials/{creds[1].bundle['credential_id']}")
    assert gone.status_code == 204, gone.text
    assert enroll.verify(people[1].username, creds[1].totp().at(enroll.clock())) == "rejected"
    assert enroll.verify(people[0].username, creds[0].totp().at(enroll.clock())) == "accepted"
    # another token cannot delete someone else's credential
    other = enroll.token()
    refused = other.signed("DELETE", f"/api/v1/credentials/{creds[0].bundle['credential_id']}")
    assert refused.status_code == 404


def test_registering_on_a_second_token_retires_the_first(enroll: Enrollment) -> None:
    carla = enroll.customer("Carla")
    first = enroll.register(enroll.token(), carla)
    assert enroll.verify(carla.username, first.totp().at(enroll.clock())) == "accepted"
    enroll.clock.advance(60)
    new_token = enroll.token()
    refused = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(carla),
        json={"device_id": new_token.device_id},
    )
    assert refused.status_code == 403  # a password alone never moves the second factor
    wrong = enroll.client.post(
        "/api/v1/activations",
        auth=enroll.portal_auth(carla),
        json={
            "device_id": new_token.device_id,
            "code": "000000" if first.totp().at(enroll.clock()) != "000000" else "1111111",
        },
    )
    assert wrong.status_code == 403
    assert enroll.verify(carla.username, first.totp().at(enroll.clock())) == "accepted"
    enroll.clock.advance(60)
    second = enroll.activate(new_token, carla, approve_with=first.totp().at(enroll.clock()))
    assert enroll.verify(carla.username, first.totp().at(enroll.clock())) == "rejected"
    assert enroll.verify(carla.username, second.totp().at(enroll.clock())) == "accepted"
    notices = [m for m in enroll.inbox.for_address(carla.email) if "nuevo token" in m["Subject"]]
    assert len(notices) == 1


def test_time_and_provisioning_key(enroll: Enrollment) -> None:
    assert enroll.client.get("/api/v1/time").json()["server_time"] == enroll.clock()
    key = enroll.client.get("/api/v1/provisioning-key").json()
    assert key["key_id"] == "otp-provisioning-v1"
    assert len(key["fingerprint"]) == 64


def test_both_flows_on_a_second_pkcs11_implementation(nss_enroll: Enrollment) -> None:
    """NSS softokn: self-registration and portal activation give tokens whose codes the
    server accepts (the bundle's seed is RFC 5649 there too: hsm.wire_format)."""
    ana, bea = nss_enroll.customer("Ana Pérez"), nss_enroll.customer("Beatriz")
    registered = nss_enroll.register(nss_enroll.token(), ana)
    _codes_work(nss_enroll, ana.username, registered)
    activated = nss_enroll.activate(nss_enroll.token(), bea)
    _codes_work(nss_enroll, bea.username, activated)
