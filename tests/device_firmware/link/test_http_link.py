"""`HttpServerLink` against a bank in memory (MockTransport): signed requests, the clock
offset, pinning, and every refusal mapped to the core's `LinkError` tree."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from device_firmware.core import (
    BundleRejected,
    CodeExpired,
    LinkError,
    RegistrationHandle,
    TooManyAttempts,
    UnknownCredential,
    Unreachable,
    UntrustedProvisioningKey,
    WrongCode,
    WrongCredentials,
)
from device_firmware.link import (
    HttpServerLink,
    InsecureServerUrl,
    MemoryPinStore,
    PinnedKeyFile,
    ProvisioningKey,
    ProvisioningTrust,
    check_server_url,
)
from device_firmware.link.pinning import PIN_FILE
from tests.device_firmware.link.conftest import (
    BANK_URL,
    PASSWORD,
    LinkRig,
    make_link_rig,
)
from tests.device_firmware.link.mock_bank import MockBank, refusal


def test_registration_gives_the_seed_the_bank_wrapped(link_rig: LinkRig) -> None:
    provisioned = link_rig.register()
    credential = provisioned.credential
    assert credential.seed == link_rig.bank.seeds[credential.credential_id]
    assert (credential.username, credential.display_name) == ("ana", "Ana Pérez")
    assert (credential.digits, credential.period, credential.algorithm.value) == (6, 60, "SHA1")
    assert provisioned.server_time == pytest.approx(link_rig.clock.now())


def test_signed_requests_carry_the_bank_time_and_fresh_nonces(tmp_path: Path) -> None:
    rig = make_link_rig(tmp_path / "token", skew=1000.0)  # the bank is 1000 s ahead
    provisioned = rig.register()
    assert rig.link.clock_offset == pytest.approx(1000.0)
    assert provisioned.server_time == pytest.approx(rig.clock.now() + 1000.0)
    signed = [r for r in rig.bank.requests if "x-otp-signature" in r.headers]
    assert len(signed) == 2  # the mock bank verified both (it answers 401 otherwise)
    for request in signed:
        assert int(request.headers["x-otp-timestamp"]) == int(rig.clock.now() + 1000.0)
        assert request.headers["content-type"] == "application/json"
    nonces = [r.headers["x-otp-nonce"] for r in signed]
    assert len(set(nonces)) == 2 and all(len(n) == 22 for n in nonces)
    body = json.loads(signed[0].content)
    assert body == {"username": "ana", "password": PASSWORD, "device_id": rig.device_id}


def test_the_time_is_read_before_each_signed_request(link_rig: LinkRig) -> None:
    link_rig.register()
    paths = [r.url.path for r in link_rig.bank.requests]
    assert paths[:3] == ["/api/v1/time", "/api/v1/provisioning-key", "/api/v1/registrations"]
    assert paths[3] == "/api/v1/time"


def test_activation_and_deletion(link_rig: LinkRig) -> None:
    code = link_rig.bank.portal("beto", link_rig.device_id)
    provisioned = link_rig.link.redeem_activation(link_rig.device_id, code, link_rig.public_key)
    credential_id = provisioned.credential.credential_id
    assert provisioned.credential.username == "beto"
    assert link_rig.bank.active(credential_id)
    link_rig.link.delete_credential(credential_id)
    assert not link_rig.bank.active(credential_id)
    delete = link_rig.bank.requests[-1]
    assert (delete.method, delete.content) == ("DELETE", b"")
    assert "content-type" not in delete.headers


def test_server_time_refreshes_the_offset(tmp_path: Path) -> None:
    rig = make_link_rig(tmp_path / "token", skew=-42.0)
    assert rig.link.server_time() == pytest.approx(rig.clock.now() - 42.0)
    assert rig.link.clock_offset == pytest.approx(-42.0)


# Pinning ---------------------------------------------------------------------------------


def test_first_contact_pins_the_key_in_the_vault_directory(link_rig: LinkRig) -> None:
    link_rig.register()
    link_rig.register("beto", "s3cret")
    assert link_rig.requests_to("/api/v1/provisioning-key") == 1
    pinned = PinnedKeyFile(link_rig.vault.directory).load()
    assert pinned is not None
    assert pinned.point == link_rig.bank.published_key
    assert pinned.key_id == "otp-provisioning-v1"
    document = json.loads((link_rig.vault.directory / PIN_FILE).read_text())
    assert document["fingerprint"] == pinned.fingerprint


def test_the_pin_survives_a_wipe_and_a_restart(tmp_path: Path) -> None:
    rig = make_link_rig(tmp_path / "token")
    rig.register()
    rig.vault.wipe()  # a wrong PIN: new identity, same bank key
    again = make_link_rig(tmp_path / "token", bank=rig.bank, clock=rig.clock)
    again.register()
    assert again.requests_to("/api/v1/provisioning-key") == 1  # only the first link asked


def test_a_key_shown_after_pinning_is_not_trusted(link_rig: LinkRig) -> None:
    link_rig.register()
    rogue = MockBank(now=link_rig.bank.now)  # another key, e.g. a server in the middle
    link_rig.bank.provisioning = rogue.provisioning  # now published *and* signing
    with pytest.raises(BundleRejected, match="pinned provisioning key"):
        link_rig.register()
    assert link_rig.requests_to("/api/v1/provisioning-key") == 1


def test_the_configured_key_wins_over_the_stored_pin(tmp_path: Path) -> None:
    bank_rig = make_link_rig(tmp_path / "other")
    stale = ProvisioningKey(MockBank(now=bank_rig.clock.now).published_key)
    store = MemoryPinStore(stale)
    configured = ProvisioningKey(bank_rig.bank.published_key)
    rig = make_link_rig(
        tmp_path / "token",
        bank=bank_rig.bank,
        clock=bank_rig.clock,
        trust=ProvisioningTrust.of_key(configured),
        pins=store,
    )
    rig.register()
    assert rig.requests_to("/api/v1/provisioning-key") == 0
    assert store.key == stale  # neither read nor replaced


def test_a_wrong_configured_key_refuses_every_bundle(tmp_path: Path) -> None:
    clock_rig = make_link_rig(tmp_path / "other")
    wrong = ProvisioningKey(MockBank(now=clock_rig.clock.now).published_key)
    rig = make_link_rig(tmp_path / "token", trust=ProvisioningTrust.of_key(wrong))
    with pytest.raises(BundleRejected, match="does not verify"):
        rig.register()
    assert rig.requests_to("/api/v1/provisioning-key") == 0


def test_a_damaged_pin_is_an_error_not_a_new_pin(link_rig: LinkRig) -> None:
    link_rig.register()
    (link_rig.vault.directory / PIN_FILE).write_text('{"format": 1, "public_key": "AAAA"}')
    with pytest.raises(LinkError, match="pinned provisioning key cannot be read"):
        link_rig.register()
    assert link_rig.requests_to("/api/v1/provisioning-key") == 1


def test_a_published_key_that_does_not_match_its_fingerprint_is_not_pinned(
    link_rig: LinkRig,
) -> None:
    handler = link_rig.bank.handler

    def lying(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        if request.url.path == "/api/v1/provisioning-key":
            body = response.json() | {"fingerprint": "00" * 32}
            return httpx.Response(200, json=body)
        return response

    link = _link_with(link_rig, lying)
    with pytest.raises(LinkError, match="fingerprint"):
        link.start_registration("ana", PASSWORD, link_rig.public_key, link_rig.device_id)
    assert PinnedKeyFile(link_rig.vault.directory).load() is None


def test_a_key_whose_fingerprint_is_not_the_configured_one_is_refused_and_not_pinned(
    tmp_path: Path,
) -> None:
    other = make_link_rig(tmp_path / "other")
    rogue = MockBank(now=other.clock.now)  # a server in the middle at first contact
    rogue.add_customer("ana", PASSWORD, "Ana Pérez")
    expected = ProvisioningKey(other.bank.published_key).fingerprint
    rig = make_link_rig(
        tmp_path / "token", bank=rogue, trust=ProvisioningTrust(fingerprint=expected)
    )
    with pytest.raises(UntrustedProvisioningKey, match="not the one this token is configured"):
        rig.register()
    assert PinnedKeyFile(rig.vault.directory).load() is None  # nothing pinned
    assert rig.requests_to("/api/v1/registrations") == 0  # the password never left
    with pytest.raises(UntrustedProvisioningKey):  # and the next try asks again, refused again
        rig.register()
    assert rig.requests_to("/api/v1/provisioning-key") == 2


def test_a_stored_pin_that_is_not_the_configured_fingerprint_is_read_again(
    tmp_path: Path,
) -> None:
    rig = make_link_rig(tmp_path / "token", trust=ProvisioningTrust.on_first_use())
    stale = ProvisioningKey(MockBank(now=rig.clock.now).published_key)
    PinnedKeyFile(rig.vault.directory).save(stale)  # e.g. pinned by a development build
    configured = make_link_rig(tmp_path / "token", bank=rig.bank, clock=rig.clock)
    configured.register()
    pinned = PinnedKeyFile(rig.vault.directory).load()
    assert pinned is not None and pinned.point == rig.bank.published_key
    assert configured.requests_to("/api/v1/provisioning-key") == 1


def test_trust_on_first_use_pins_whatever_the_bank_shows_first(tmp_path: Path) -> None:
    rogue = MockBank(now=lambda: 0.0)
    rig = make_link_rig(tmp_path / "token", trust=ProvisioningTrust.on_first_use())
    rig.register()  # development: nothing to check the first key against
    pinned = PinnedKeyFile(rig.vault.directory).load()
    assert pinned is not None and pinned.point == rig.bank.published_key
    rig.bank.provisioning = rogue.provisioning  # but never replaced afterwards
    with pytest.raises(BundleRejected):
        rig.register()


@pytest.mark.parametrize(
    "text",
    [
        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
        "9f:86:d0:81:88:4c:7d:65:9a:2f:ea:a0:c5:5a:d0:15:a3:bf:4f:1b:2b:0b:82:2c:d1:5d:6c:15:b0:f0:0a:08",
        " 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
    ],
)
def test_a_fingerprint_is_read_in_the_usual_spellings(text: str) -> None:
    trust = ProvisioningTrust.parse(text)
    assert trust.fingerprint == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert trust.key is None and not trust.first_use


def test_a_published_key_is_read_as_the_key(link_rig: LinkRig) -> None:
    from device_firmware.link.signing import b64url

    trust = ProvisioningTrust.parse(b64url(link_rig.bank.published_key))
    assert trust.key == ProvisioningKey(link_rig.bank.published_key)
    assert trust.accepts(ProvisioningKey(link_rig.bank.published_key))


@pytest.mark.parametrize("text", ["", "abc", "00" * 31, "zz" * 32, "BAAA"])
def test_neither_a_key_nor_a_fingerprint_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ProvisioningTrust.parse(text)


def test_trust_is_exactly_one_thing() -> None:
    with pytest.raises(ValueError):
        ProvisioningTrust()
    with pytest.raises(ValueError):
        ProvisioningTrust(fingerprint="00" * 32, first_use=True)


# Refusals --------------------------------------------------------------------------------

Call = Callable[[LinkRig], object]


def _start(rig: LinkRig) -> object:
    return rig.link.start_registration("ana", PASSWORD, rig.public_key, rig.device_id)


def _confirm(rig: LinkRig) -> object:
    return rig.link.confirm_registration(RegistrationHandle("reg_1", "a***@x", 0.0), "12345678")


def _redeem(rig: LinkRig) -> object:
    return rig.link.redeem_activation(rig.device_id, "1234567890", rig.public_key)


def _delete(rig: LinkRig) -> object:
    rig.link.delete_credential("cred_1")
    return None


def _time(rig: LinkRig) -> object:
    return rig.link.server_time()


@pytest.mark.parametrize(
    ("call", "status", "detail", "expected"),
    [
        (_start, 401, "the username or the password is not correct", WrongCredentials),
        (_start, 429, "too many registrations in the last hour: try again later", TooManyAttempts),
        (_start, 400, "the device ID does not belong to the key that signed", LinkError),
        (_start, 503, "the e-mail with the code could not be sent: try again later", Unreachable),
        (_confirm, 400, "the code is not correct", WrongCode),
        (_confirm, 410, "the code has expired: start again", CodeExpired),
        (_confirm, 410, "too many wrong codes: start again", CodeExpired),
        (_confirm, 404, "no such registration for this token", CodeExpired),
        (_confirm, 429, "slow down", TooManyAttempts),
        (_redeem, 400, "the device ID or the activation code is not correct: try again", WrongCode),
        (_redeem, 410, "this activation code was used already", CodeExpired),
        (_redeem, 409, "this device ID is bound to another key", LinkError),
        (_redeem, 500, "Internal Server Error", Unreachable),
        (_delete, 404, "no such credential on this token", UnknownCredential),
        (_delete, 401, "the request signature does not verify", LinkError),
        (_delete, 502, "Bad Gateway", Unreachable),
    ],
)
def test_refusals_become_the_cores_errors_with_the_banks_words(
    link_rig: LinkRig, call: Call, status: int, detail: str, expected: type[LinkError]
) -> None:
    link_rig.bank.refuse_next.append(refusal(status, detail))
    with pytest.raises(expected) as raised:
        call(link_rig)
    assert type(raised.value) is expected
    assert str(raised.value) == f"{detail} (HTTP {status})"
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("call", [_start, _redeem, _delete, _time])
def test_no_answer_is_unreachable(link_rig: LinkRig, call: Call, failure: Exception) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise failure

    link_rig.link = _link_with(link_rig, down)
    with pytest.raises(Unreachable, match=type(failure).__name__):
        call(link_rig)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>captive portal</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(302, headers={"Location": "https://elsewhere.example/"}),
        httpx.Response(200, json={"server_time": "noon"}),
    ],
    ids=["html", "list", "redirect", "bad-time"],
)
def test_answers_outside_the_protocol_are_link_errors(
    link_rig: LinkRig, response: httpx.Response
) -> None:
    link = _link_with(link_rig, lambda request: response)
    with pytest.raises(LinkError) as raised:
        link.server_time()
    assert not isinstance(raised.value, Unreachable)


def test_an_error_page_without_json_keeps_the_reason_phrase(link_rig: LinkRig) -> None:
    link_rig.bank.refuse_next.append(httpx.Response(503, text="<h1>down</h1>"))
    with pytest.raises(Unreachable, match=r"^Service Unavailable \(HTTP 503\)$"):
        _start(link_rig)


def test_a_key_that_changed_under_the_request_is_refused(link_rig: LinkRig) -> None:
    old_key, old_id = link_rig.public_key, link_rig.device_id
    link_rig.vault.wipe()
    with pytest.raises(LinkError, match="key changed"):
        link_rig.link.start_registration("ana", PASSWORD, old_key, old_id)
    assert link_rig.bank.requests == []


def test_ids_that_do_not_fit_a_url_path_are_not_sent(link_rig: LinkRig) -> None:
    with pytest.raises(UnknownCredential):
        link_rig.link.delete_credential("../registrations")
    with pytest.raises(CodeExpired):
        link_rig.link.confirm_registration(RegistrationHandle("a/b", "x", 0.0), "12345678")
    assert link_rig.bank.requests == []


def test_no_secret_reaches_the_logs_or_the_errors(
    link_rig: LinkRig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        provisioned = link_rig.register()
        link_rig.bank.refuse_next.append(refusal(400, "the code is not correct"))
        with pytest.raises(WrongCode) as raised:
            _confirm(link_rig)
    code = link_rig.bank.mailbox["ana"][-1]
    seed = provisioned.credential.seed
    text = caplog.text + str(raised.value)
    assert "provisioned" in caplog.text  # the link does log
    for secret in (PASSWORD, code, seed.hex(), "12345678"):
        assert secret not in text
    assert seed.hex() not in repr(provisioned)


# URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://otp.bank.example", "http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]"],
)
def test_urls_that_may_carry_a_password(url: str) -> None:
    assert check_server_url(url).scheme in ("http", "https")


@pytest.mark.parametrize(
    "url", ["http://otp.bank.example", "http://10.0.0.5:8000", "ftp://bank", "https://", "bank"]
)
def test_urls_that_may_not(url: str) -> None:
    with pytest.raises(InsecureServerUrl):
        check_server_url(url)


def _link_with(rig: LinkRig, handler: Callable[[httpx.Request], httpx.Response]) -> HttpServerLink:
    fingerprint = ProvisioningKey(rig.bank.published_key).fingerprint
    return HttpServerLink(
        BANK_URL,
        token_key=rig.vault.identity,
        pins=PinnedKeyFile(rig.vault.directory),
        clock=rig.clock,
        trust=ProvisioningTrust(fingerprint=fingerprint),
        transport=httpx.MockTransport(handler),
    )
