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
from sqlalchemy.exc import IntegrityError, OperationalError

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
# show where it failed and none of them. The program logs as `uvicorn server.asgi:app`
# would: uvicorn's own logging set up first, then the application's.
_FAILING = """
import logging, logging.config, sys, structlog, uvicorn.config
from hsm import HsmUnavailable
from server.errors import NotFound
logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
from server.logging import configure_logging
configure_logging("{fmt}", "info")

def check(api_key, body):
    raise ValueError("no such code: " + body["code"])

def find(email):
    try:
        check(sys.argv[1], {{"code": sys.argv[2]}})
    except ValueError as exc:
        raise NotFound("no customer " + email) from exc

def handle():
    try:
        find(sys.argv[3])
    except NotFound as exc:
        raise HsmUnavailable("the token 'otp-test' is away") from exc

for logger in (structlog.get_logger("server"), logging.getLogger("uvicorn.error")):
    try:
        handle()
    except HsmUnavailable:
        logger.exception("request.failed")
"""


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_frames_and_no_secret(fmt: str, tmp_path: Path) -> None:
    program = tmp_path / "failing.py"  # a file, so that the traceback quotes its lines
    program.write_text(_FAILING.format(fmt=fmt))
    told = ["APIKEY-7f3e", "493817", "someone.private@example.com"]
    done = subprocess.run(
        [sys.executable, str(program), *told], capture_output=True, text=True, check=True
    )
    out = done.stderr
    if fmt == "json":  # every line is one of ours, uvicorn's included
        out = "\n".join(json.loads(line)["exception"] for line in out.splitlines())
    assert out.count("request.failed" if fmt == "console" else "Traceback") >= 2, out
    # structlog's traceback and the standard library's (uvicorn's), each a chain of three
    for frame in ("in check", 'raise ValueError("no such code: " + body["code"])'):
        assert out.count(frame) == 2, (frame, out)
    assert out.count("was the direct cause of the following exception") == 4
    assert out.count("hsm.errors.HsmUnavailable: the token 'otp-test' is away") == 2
    assert out.count("server.errors.NotFound (message withheld") == 2
    assert out.count("ValueError (message withheld") == 2
    for secret in told:
        assert secret not in out, out


def test_an_exception_group_shows_each_member_and_none_of_their_messages() -> None:
    def fail(value: str) -> None:
        raise ValueError(value)

    members: list[Exception] = []
    for value in ("secret-one", "secret-two"):
        try:
            fail(value)
        except ValueError as exc:
            members.append(exc)
    try:
        raise ExceptionGroup("a batch", members)
    except ExceptionGroup as group:
        text = safe_traceback((type(group), group, group.__traceback__))
    assert "ExceptionGroup (message withheld" in text
    assert "1 of 2" in text and "2 of 2" in text
    assert text.count("in fail") == 2 and text.count("| ValueError (message withheld") == 2
    assert "secret" not in text


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


def test_a_database_error_without_a_sqlstate_names_its_driver_error() -> None:
    engine = make_engine("postgresql+psycopg://otp:hunter2secret@127.0.0.1:1/nowhere")
    with pytest.raises(OperationalError) as raised:
        engine.connect()
    text = safe_traceback((raised.type, raised.value, raised.tb))
    assert "sqlalchemy.exc.OperationalError: driver=OperationalError (message withheld" in text
    assert "127.0.0.1" in str(raised.value) and "127.0.0.1" not in text
