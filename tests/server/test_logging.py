"""Structured logs: JSON lines at the configured level, and tracebacks without secrets, in
a process of their own (the test suite's own logging stays as the fixtures set it)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint, insert
from sqlalchemy.exc import IntegrityError

from server.db.engine import make_engine
from server.logging import safe_traceback
from tests.server.processes import PostgresCluster

_PROGRAM = """
import logging, structlog
from server.logging import configure_logging
configure_logging("json", "warning")
log = structlog.get_logger("server.test")
log.info("hidden.structlog", n=1)
logging.getLogger("server.std").info("hidden.stdlib")
log.warning("shown.structlog", n=2)
logging.getLogger("server.std").error("shown.stdlib")
"""


def test_events_below_the_level_are_dropped_and_the_rest_are_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [
        ("shown.structlog", "warning"),
        ("shown.stdlib", "error"),
    ]
    assert lines[0]["n"] == 2 and lines[0]["logger"] == "server.test"
    assert all("timestamp" in line for line in lines)


# A request's secrets sit in local variables and in exception messages; a traceback must
# show where it failed and none of them.
_FAILING = """
import logging, sys, structlog
from server.errors import NotJson
from server.logging import configure_logging
configure_logging("{fmt}", "info")

def check(api_key, body):
    code = body["code"]
    raise ValueError("no such code: " + code)

def handle():
    try:
        check(sys.argv[1], {{"code": sys.argv[2]}})
    except ValueError as exc:
        raise NotJson("the body must be JSON") from exc

for logger in (structlog.get_logger("server"), logging.getLogger("uvicorn.error")):
    try:
        handle()
    except NotJson:
        logger.exception("request.failed")
"""


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_frames_and_no_secret(fmt: str, tmp_path: Path) -> None:
    program = tmp_path / "failing.py"  # a file, so that the traceback quotes its lines
    program.write_text(_FAILING.format(fmt=fmt))
    done = subprocess.run(
        [sys.executable, str(program), "APIKEY-7f3e", "493817"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stderr
    if fmt == "json":
        out = "\n".join(json.loads(line)["exception"] for line in out.splitlines())
    assert out.count("request.failed" if fmt == "console" else "Traceback") >= 2, out
    # structlog's traceback and the standard library's, each through the chain of two
    for frame in ("in check", 'raise ValueError("no such code: " + code)'):
        assert out.count(frame) == 2, (frame, out)
    assert out.count("in handle") == 4
    assert out.count("was the direct cause of the following exception") == 2
    assert out.count("server.errors.NotJson: the body must be JSON") == 2  # our own text
    assert out.count("ValueError (message withheld") == 2
    assert "APIKEY-7f3e" not in out and "493817" not in out, out


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    return postgres.create_database(f"log_{secrets.token_hex(4)}")


def test_a_database_error_is_told_without_the_values(postgres_url: str) -> None:
    """PostgreSQL quotes the row in its message ("Key (email)=(...) already exists")."""
    people = Table(
        "people", MetaData(), Column("id", Integer, primary_key=True), Column("email", String)
    )
    people.append_constraint(UniqueConstraint("email", name="people_email_key"))
    engine = make_engine(postgres_url)
    people.create(engine)
    row = {"email": "someone.private@example.com"}
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(insert(people), [row, row])
    engine.dispose()
    assert "someone.private" in str(raised.value.orig)  # what the driver would have logged
    text = safe_traceback((raised.type, raised.value, raised.tb))
    assert "someone.private" not in text
    assert "sqlstate=23505" in text and "constraint=people_email_key" in text
    assert "in test_a_database_error_is_told_without_the_values" in text
