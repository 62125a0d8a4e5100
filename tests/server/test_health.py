"""/health/live, /health/ready and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient

from hsm import Hsm
from server.app import create_app
from server.settings import Settings
from tests.conftest import SoftHsmTokens


def _head() -> str:
    from alembic.script import ScriptDirectory

    from server.db.migrate import alembic_config

    return str(ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head())


def test_live_and_ready_with_a_working_hsm(hsm: Hsm, database_url: str) -> None:
    with TestClient(create_app(Settings(database_url=database_url), hsm=hsm)) as client:
        assert client.get("/health/live").json() == {"status": "ok"}
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        assert body["hsm"]["token_label"] == "otp-test"
        assert body["hsm"]["module"].endswith("libsofthsm2.so")
        assert body["hsm"]["key_versions"] == {
            "kek": [1],
            "provisioning": [1],
            "audit-mac": [1],
            "digest": [1],
        }
        assert body["database"] == {
            "ok": True,
            "reason": None,
            "dialect": "sqlite",
            "revision": _head(),
        }


def test_ready_is_503_when_the_database_has_no_schema(hsm: Hsm, tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/empty.sqlite3")
    with TestClient(create_app(settings, hsm=hsm)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["hsm"]["ok"] is True
        assert "the database cannot be used" in ready.json()["database"]["reason"]


def test_ready_is_503_with_the_reason_when_the_token_is_unknown(
    tokens: SoftHsmTokens, database_url: str
) -> None:
    settings = Settings(hsm_token_label="no-such-token", hsm_pin="1234", database_url=database_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health/live").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert "no token labelled 'no-such-token'" in ready.json()["hsm"]["reason"]


def test_ready_is_503_when_the_module_is_missing(tokens: SoftHsmTokens, database_url: str) -> None:
    settings = Settings(
        hsm_module=Path("/missing/libsofthsm2.so"), hsm_pin="1234", database_url=database_url
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert "/missing/libsofthsm2.so does not exist" in ready.json()["hsm"]["reason"]


def test_ready_is_503_when_keys_are_missing(tokens: SoftHsmTokens, database_url: str) -> None:
    settings = Settings(
        hsm_token_label=tokens.empty.label,
        hsm_pin_file=tokens.empty.user_pin_file,
        database_url=database_url,
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        reason = ready.json()["hsm"]["reason"]
        assert "keys missing on token 'otp-empty': kek, provisioning, audit-mac, digest" in reason
        assert "otp-hsm init-keys" in reason


def test_openapi_document_is_served(hsm: Hsm, database_url: str) -> None:
    with TestClient(create_app(Settings(database_url=database_url), hsm=hsm)) as client:
        schema = client.get("/schema/openapi.json")
        assert schema.status_code == 200
        assert "/health/ready" in schema.json()["paths"]
