"""Officer-tool fixtures: the `otp-officer` token (the only one whose KEK gets rotated), a
database per test, and `otp-admin` run in this process (`admin_runner`) or, where a
separate process is the point, as a subprocess like an officer runs it (`admin_process`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from hsm import Hsm
from server.cli.admin import main
from server.db.engine import make_engine
from server.db.models import AuditEvent, Credential
from tests.cli.in_process import Ran, run_in_process
from tests.conftest import SoftHsmTokens
from tests.server.processes import PostgresCluster, server_env

AdminRun = Callable[..., Ran | subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def officer_hsm(tokens: SoftHsmTokens) -> Iterator[Hsm]:
    """The officer token's `Hsm` in this process, keys created. It finds a KEK version that
    a subprocess created when a blob names it; call `reload_keys()` before wrapping new seeds
    to wrap them under a KEK created elsewhere."""
    hsm = Hsm(tokens.config(tokens.officer, key_refresh_interval=3600.0))
    hsm.ensure_keys()
    yield hsm
    hsm.close()


@pytest.fixture
def database_url(tmp_path: Path, migrated_database: Path) -> str:
    """This test's own database, at the newest schema."""
    shutil.copyfile(migrated_database, tmp_path / "otp.sqlite3")
    return f"sqlite:///{tmp_path}/otp.sqlite3"


def token_env(tokens: SoftHsmTokens, label: str, database_url: str) -> dict[str, str]:
    """What a server process needs to use token `label` and the database."""
    token = tokens.officer if label == tokens.officer.label else tokens.main
    return {**server_env(tokens, database_url, token), "OTP_LOG_LEVEL": "warning"}


def officer_env(tokens: SoftHsmTokens, label: str, database_url: str) -> dict[str, str]:
    """What the security officer's `otp-admin` needs: the server's, and the SO PIN (to
    make KEKs). A server is never given it."""
    token = tokens.officer if label == tokens.officer.label else tokens.main
    return {**token_env(tokens, label, database_url), "OTP_HSM_SO_PIN_FILE": str(token.so_pin_file)}


def admin_runner(env: dict[str, str]) -> AdminRun:
    """`otp-admin ARGS` in this process with `env` (tests/cli/in_process.py); checks the exit
    code unless `ok` is False, and that there is never a traceback."""

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> Ran:
        result = run_in_process(main, args, env=env, stdin=stdin)
        if ok:
            assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


def admin_process(env: dict[str, str]) -> AdminRun:
    """`otp-admin ARGS` in a subprocess with `env`; checks there is never a traceback."""

    def run(
        *args: str, stdin: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "server.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=False,
        )
        if ok:
            assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


@pytest.fixture
def officer_admin(tokens: SoftHsmTokens, officer_hsm: Hsm, database_url: str) -> AdminRun:
    """`otp-admin` on the officer token (rotation allowed) and this test's database."""
    return admin_runner(officer_env(tokens, tokens.officer.label, database_url))


@pytest.fixture
def main_admin(tokens: SoftHsmTokens, hsm: Hsm, database_url: str) -> AdminRun:
    """`otp-admin` on the main test token (never rotated) and this test's database."""
    return admin_runner(officer_env(tokens, tokens.main.label, database_url))


@pytest.fixture(scope="session")
def officer_postgres() -> Iterator[PostgresCluster]:
    """A throw-away PostgreSQL cluster for the officer tests (started as `postgres`)."""
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


def stored_credentials(database_url: str) -> list[Credential]:
    """Every credential row of the database, oldest first (read outside the tool under test)."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        rows = list(session.exec(select(Credential).order_by(col(Credential.id))).all())
    engine.dispose()
    return rows


def audit_events(database_url: str, prefix: str = "") -> list[AuditEvent]:
    """The audit events whose action starts with `prefix`, oldest first."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.action).startswith(prefix))
        rows = list(session.exec(statement.order_by(col(AuditEvent.seq))).all())
    engine.dispose()
    return rows
