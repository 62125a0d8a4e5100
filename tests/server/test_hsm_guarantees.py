"""The server does not go ready on an HSM that lets seeds out, unless the security officer
accepted the weakness by name; an accepted weakness is logged and audited."""

from __future__ import annotations

import json
import time

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text

from hsm import GUARANTEES, Hsm
from server.app import create_app
from server.settings import Settings, SettingsError
from tests.conftest import SoftHsmTokens
from tests.nss.module import NssToken
from tests.server.conftest import JsonLines, fast_settings


def test_softhsm_is_ready_with_only_its_readable_files_accepted(
    hsm: Hsm, database_url: str
) -> None:
    with TestClient(create_app(fast_settings(database_url), hsm=hsm)) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["hsm"]["missing_guarantees"] == []
    assert ready.json()["hsm"]["accepted_weaknesses"] == ["key-store-readable"]
    assert len(_accepted_events(database_url)) == 1


def test_an_accepted_weakness_is_logged_and_audited_at_start_without_a_probe(
    hsm: Hsm, database_url: str, json_logs: JsonLines
) -> None:
    first = len(json_logs.lines)
    with TestClient(create_app(fast_settings(database_url), hsm=hsm)):
        deadline = time.monotonic() + 10
        while not _accepted_events(database_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        said = [
            line
            for line in map(json.loads, json_logs.lines[first:])
            if line.get("event") == "hsm.weakness_accepted"
        ]
    [(result, details)] = _accepted_events(database_url)
    assert result == "accepted" and "key-store-readable" in str(details)
    assert [line["guarantees"] for line in said] == [["key-store-readable"]]


def test_softhsm_is_not_ready_unless_its_readable_files_are_accepted(
    tokens: SoftHsmTokens, hsm: Hsm, database_url: str
) -> None:
    settings = fast_settings(
        database_url,
        hsm_token_label=tokens.main.label,
        hsm_pin_file=tokens.main.user_pin_file,
        hsm_accept_weaknesses="",
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["hsm"]["missing_guarantees"] == ["key-store-readable"]
    assert "this process reads SoftHSM's key store" in ready.json()["hsm"]["reason"]


def test_an_hsm_that_lets_seeds_out_is_not_ready(
    legacy: tuple[Hsm, int], database_url: str
) -> None:
    weak, _ = legacy
    with TestClient(create_app(fast_settings(database_url), hsm=weak)) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 503
    body = ready.json()["hsm"]
    assert body["ok"] is False
    assert {"unwrap-readable", "kek-decrypt"} <= set(body["missing_guarantees"])
    assert body["reason"].startswith("the HSM lets seeds out: unwrap-readable (otp-kek-v")
    assert "gave the seed's value" in body["reason"]
    assert "OTP_HSM_ACCEPT_WEAKNESSES" in body["reason"]


def _weak_settings(tokens: SoftHsmTokens, database_url: str, accept: str) -> Settings:
    return fast_settings(
        database_url,
        hsm_token_label=tokens.spare.label,
        hsm_pin_file=tokens.spare.user_pin_file,
        hsm_accept_weaknesses=accept,
    )


def _accepted_events(database_url: str) -> list[tuple[str, str]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT result, details FROM audit_events "
                    "WHERE action = 'hsm.weakness-accepted' ORDER BY seq"
                )
            )
            return [(row[0], row[1]) for row in rows]
    finally:
        engine.dispose()


def test_an_accepted_weakness_is_ready_logged_and_audited_once(
    legacy: tuple[Hsm, int], tokens: SoftHsmTokens, database_url: str
) -> None:
    weak, _ = legacy
    broken = weak.prove_extraction().weaknesses
    settings = _weak_settings(tokens, database_url, ", ".join(broken))
    with TestClient(create_app(settings)) as client:
        first = client.get("/health/ready")
        again = client.get("/health/ready")
    assert first.status_code == 200, first.json()
    assert again.status_code == 200
    assert first.json()["hsm"]["accepted_weaknesses"] == broken
    assert first.json()["hsm"]["missing_guarantees"] == []
    events = _accepted_events(database_url)
    assert len(events) == 1
    result, details = events[0]
    assert result == "accepted"
    for guarantee in broken:
        assert guarantee in details


def test_accepting_some_weaknesses_leaves_the_others_missing(
    legacy: tuple[Hsm, int], tokens: SoftHsmTokens, database_url: str
) -> None:
    weak, _ = legacy
    broken = weak.prove_extraction().weaknesses
    assert "kek-decrypt" in broken
    accepted = [g for g in broken if g != "kek-decrypt"]
    with TestClient(create_app(_weak_settings(tokens, database_url, ",".join(accepted)))) as c:
        ready = c.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["hsm"]["missing_guarantees"] == ["kek-decrypt"]
    assert ready.json()["hsm"]["reason"].startswith("the HSM lets seeds out: kek-decrypt (")
    assert _accepted_events(database_url) == []  # not ready: nothing was accepted in use


def test_an_unknown_weakness_name_stops_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTP_HSM_ACCEPT_WEAKNESSES", "wrap-out,everything")
    with pytest.raises(SettingsError) as refused:
        Settings.from_environment()
    message = str(refused.value)
    assert "OTP_HSM_ACCEPT_WEAKNESSES" in message
    assert "everything" in message and GUARANTEES[0] in message


# -- NSS softokn, the second PKCS#11 implementation ----------------------------------------

NSS_WEAKNESSES = {"unwrap-readable", "unwrap-extractable", "wrap-out", "kek-wrap-out"}
"""What NSS softokn 3.87 lets a user session do (measured: docs/hsm.md)."""


def _nss_settings(token: NssToken, database_url: str, accept: str = "") -> Settings:
    return fast_settings(
        database_url,
        hsm_module=token.module,
        hsm_token_label=token.token_label,
        hsm_pin=token.user_pin,
        hsm_kek_without_officer=True,
        hsm_accept_weaknesses=accept,
    )


def test_the_server_does_not_go_ready_on_nss(
    nss_token: NssToken, nss_hsm: Hsm, database_url: str
) -> None:
    with TestClient(create_app(_nss_settings(nss_token, database_url))) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 503
    body = ready.json()["hsm"]
    assert NSS_WEAKNESSES <= set(body["missing_guarantees"])
    assert "wrap-out (otp-kek-v1: gave the seed's value)" in body["reason"]
    assert "kek-wrap-out (otp-kek-v1: gave the KEK's value)" in body["reason"]


def test_the_server_goes_ready_on_nss_when_the_officer_accepts_what_it_lets_out(
    nss_token: NssToken, nss_hsm: Hsm, database_url: str
) -> None:
    broken = nss_hsm.prove_extraction().weaknesses
    settings = _nss_settings(nss_token, database_url, ",".join(broken))
    with TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["hsm"]["accepted_weaknesses"] == broken
    assert len(_accepted_events(database_url)) == 1


def test_the_proof_runs_when_the_server_starts_not_at_the_first_probe(
    legacy: tuple[Hsm, int], database_url: str, json_logs: JsonLines
) -> None:
    weak, _ = legacy
    first = len(json_logs.lines)
    with TestClient(create_app(fast_settings(database_url), hsm=weak)):
        deadline = time.monotonic() + 10
        said: list[dict[str, object]] = []
        while not said and time.monotonic() < deadline:
            said = [
                line
                for line in map(json.loads, json_logs.lines[first:])
                if line.get("event") == "hsm.guarantees_missing"
            ]
            time.sleep(0.05)
    assert said, "no verdict logged at start"
    assert "unwrap-readable" in said[0]["guarantees"]  # type: ignore[operator]
