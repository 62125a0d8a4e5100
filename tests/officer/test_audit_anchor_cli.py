"""`otp-admin audit verify --anchor FILE`: the officer holds the database against each
server's anchor file (the attack itself: tests/server/test_audit_anchor.py)."""

from __future__ import annotations

from pathlib import Path

from hsm import Hsm
from tests.conftest import SoftHsmTokens
from tests.officer.conftest import admin_runner, token_env
from tests.server.test_audit_anchor import _head, _record, _roll_back_to_seq, _services


def test_the_officer_verifies_against_each_servers_anchor(
    database_url: str, hsm: Hsm, tokens: SoftHsmTokens, tmp_path: Path
) -> None:
    services = _services(database_url, hsm, tmp_path / "server-1.log")
    _record(services, 3)
    old_head = _head(services)
    _record(services, 2)
    _roll_back_to_seq(services, int(old_head["seq"]), old_head)  # type: ignore[call-overload]
    admin = admin_runner(token_env(tokens, tokens.main.label, database_url))
    assert "audit chain OK" in admin("audit", "verify").stdout  # without the anchor
    refused = admin("audit", "verify", "--anchor", str(tmp_path / "server-1.log"), ok=False)
    assert refused.returncode == 1
    assert "older copy of the database was restored" in refused.stderr
    missing = admin("audit", "verify", "--anchor", str(tmp_path / "nowhere.log"), ok=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
