"""Real server processes and a real PostgreSQL on loopback, for tests across processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from softhsm_config import SoftHsmToken
from tests.conftest import SOFTHSM_ACCEPTED, SoftHsmTokens

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {seconds} s")
        time.sleep(0.1)


def server_env(
    tokens: SoftHsmTokens, database_url: str, token: SoftHsmToken | None = None
) -> dict[str, str]:
    """The environment of a server or `otp-admin` process on `token` (default: the tests'
    main token) and `database_url`, with Argon2 as cheap as `fast_settings` makes it."""
    token = token or tokens.main
    return {
        **token.env,
        "OTP_DATABASE_URL": database_url,
        "OTP_HSM_TOKEN_LABEL": token.label,
        "OTP_HSM_PIN_FILE": str(token.user_pin_file),
        "OTP_HSM_ACCEPT_WEAKNESSES": ",".join(SOFTHSM_ACCEPTED),
        "OTP_ARGON2_TIME_COST": "1",
        "OTP_ARGON2_MEMORY_KIB": "1024",
        "OTP_ARGON2_PARALLELISM": "1",
    }


_LOGS: dict[str, Path] = {}
"""The log file of each running `server_process`, by base URL."""


def logged(base: str) -> list[str]:
    """Every line the server at `base` has logged so far (for the tests' leak checks)."""
    return _LOGS[base].read_text(errors="replace").splitlines()


def complaints(base: str) -> list[str]:
    """The warnings and errors the server at `base` has logged so far, and any line that
    is not a log record (a crash): to say why an assertion about its answers failed."""
    lines = logged(base)
    told = []
    for line in lines:
        try:
            level = json.loads(line).get("level")
        except ValueError:
            level = None
        if level not in ("debug", "info"):
            told.append(line)
    return told


@contextmanager
def server_process(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """`python -m server` on loopback with `env`; yields its base URL."""
    port = port or free_port()
    log = tempfile.NamedTemporaryFile(prefix="otp-server-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "OTP_LOG_FORMAT": "json", **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    _LOGS[base] = Path(log.name)
    try:
        wait_for(f"{base}/health/live")
        yield base
    except BaseException:
        # the server's own account goes into the failed test's report
        log.flush()
        tail = Path(log.name).read_text(errors="replace").splitlines()[-40:]
        print(f"--- last lines of the server on port {port} ---", *tail, sep="\n")
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        os.unlink(log.name)
        _LOGS.pop(base, None)  # a server started again on the port may have gone first


def ready_server(stack: ExitStack, env: dict[str, str], port: int | None = None) -> str:
    """`server_process` entered on `stack`, once its `/health/ready` answered 200 (asserted):
    start servers on one SoftHSM token one after the other with it, as a balancer would
    bring them in."""
    base = stack.enter_context(server_process(env, port))
    assert httpx.get(f"{base}/health/ready").status_code == 200, complaints(base)[-3:]
    return base


class PostgresCluster:
    """A throw-away PostgreSQL 15 cluster on loopback, run as the `postgres` user."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError("PostgreSQL 15 is not installed (Debian package 'postgresql')")
        self.dir = Path(tempfile.mkdtemp(prefix="otp-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, text=True
        )

    def start(self) -> None:
        data = str(self.dir / "data")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", data, "-A", "trust", "-U", "postgres")
        self.resume()

    def resume(self) -> None:
        """Start the server on its data directory and port (after `pause`)."""
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-w",
            "-l",
            str(self.dir / "log"),
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off",
            "start",
        )

    def pause(self) -> None:
        """Stop the server as an operator's restart would (`-m fast`: sessions are ended,
        transactions rolled back), keeping its data."""
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"
        )

    def create_database(self, name: str) -> str:
        """Create database `name`; returns its SQLAlchemy URL."""
        self._as_postgres(
            str(PG_BIN / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._as_postgres(
                str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
