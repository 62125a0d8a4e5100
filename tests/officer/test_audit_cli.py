"""`otp-admin audit`: verify finds an edited, a deleted and a truncated event; export writes
JSON lines whose hashes anyone can recompute; `keys` shows who did what to keys."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hsm import Hsm
from server.db.engine import Database
from server.domain.audit.rules import GENESIS, AuditRecord, event_hash
from server.domain.audit.service import AuditLog
from tests.officer.conftest import AdminRun

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not

RECORDS = [
    AuditRecord("officer:ana", "customer.add", "zoe", result="ok"),
    AuditRecord("officer:ana", "key.create", "otp-kek-v2", result="ok", details={"version": 2}),
    AuditRecord("client:netbank", "verify", "zoe", purpose="transfer", result="accepted"),
    AuditRecord("officer:ben", "key.rotate", "otp-kek-v2", result="started"),
    AuditRecord("officer:ben", "key.rewrap", "otp-kek-v2", result="ok", details={"n": 200}),
    AuditRecord("client:netbank", "verify", "zoe", purpose="login", result="rejected"),
    AuditRecord("officer:ana", "hsm.init-keys", "otp-test", result="ok"),
    AuditRecord("officer:ben", "key.retire", "otp-kek-v1", result="refused", reason="in_use"),
    AuditRecord("officer:ana", "credential.revoke", "zoe", result="ok", details={"ñ": "ü"}),
    AuditRecord("officer:ben", "key.retire", "otp-kek-v1", result="ok"),
]


@pytest.fixture
def trail(hsm: Hsm, database_url: str) -> str:
    """Ten events sealed with the main token's audit key (as the CLI will check them)."""
    db = Database.from_url(database_url)
    audit = AuditLog(hsm, time.time)
    for record in RECORDS:
        with db.engine.begin() as connection:
            audit.append(connection, record)
    db.dispose()
    return database_url


def _sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("UPDATE audit_events SET result = 'accepted' WHERE seq = 6", "event 6 was altered"),
        ("DELETE FROM audit_events WHERE seq = 4", "event 4 is missing"),
        ("DELETE FROM audit_events WHERE seq > 7", "events 8 to 10 are missing"),
    ],
    ids=["edited", "deleted", "truncated"],
)
def test_verify_finds_the_first_bad_event(
    main_admin: AdminRun, trail: str, tamper: str, message: str
) -> None:
    assert "audit chain OK: 10 events" in main_admin("audit", "verify").stdout
    _sql(trail, tamper)
    bad = main_admin("audit", "verify", ok=False)
    assert bad.returncode == 1
    assert message in bad.stderr and "BROKEN at event" in bad.stderr


def test_export_writes_json_lines_whose_hashes_recompute(
    main_admin: AdminRun, trail: str, tmp_path: Path
) -> None:
    out = main_admin("audit", "export", "--from", "3", "--to", "7")
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["seq"] for e in events] == [3, 4, 5, 6, 7]
    assert "exported 5 event(s), 3..7" in out.stderr
    for before, event in itertools.pairwise(events):
        assert event["prev_hash"] == before["hash"]
    for event in events:
        assert event_hash(event["prev_hash"], event) == event["hash"]

    target = tmp_path / "audit.jsonl"
    main_admin("audit", "export", "--output", str(target))
    everything = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert len(everything) == 10 and everything[0]["prev_hash"] == GENESIS
    assert json.loads(everything[8]["details"]) == {"ñ": "ü"}
    assert everything[2:7] == events
    assert "the newest is 10" in main_admin("audit", "export", "--from", "11", ok=False).stderr


def test_keys_shows_who_did_what_to_keys(main_admin: AdminRun, trail: str) -> None:
    lines = main_admin("audit", "keys").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["2", "4", "5", "7", "8", "10"]
    assert "officer:ben" in lines[-1] and "key.retire" in lines[-1] and "ok" in lines[-1]
    assert "refused (in_use)" in lines[-2]
    newest = main_admin("audit", "keys", "--json", "--limit", "2").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in newest] == [8, 10]
