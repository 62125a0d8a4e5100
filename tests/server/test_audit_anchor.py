"""The audit chain's anchor outside the database, played as issue 20's attacker: with write
access to the database (not to the HSM, not to the append-only anchor file), delete the
newest events and put back an older head row whose seal the HSM really made."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from hsm import Hsm
from server.app import create_app
from server.domain.audit.anchor import AnchorFile
from server.services import Services
from tests.server.conftest import fast_settings


def _services(database_url: str, hsm: Hsm, anchor: Path | None) -> Services:
    services: Services = create_app(
        fast_settings(database_url, audit_anchor_file=anchor), hsm=hsm
    ).state.services
    return services


def _record(services: Services, n: int) -> None:
    for i in range(n):
        with services.db.engine.begin() as connection:
            services.audit.record(connection, actor="officer:test", action=f"test.{i}")


def _roll_back_to_seq(services: Services, seq: int, head: dict[str, object]) -> None:
    """The attacker's edit: the events after `seq` deleted, the old head row put back."""
    with services.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq > :seq"), {"seq": seq})
        connection.execute(
            text(
                "UPDATE audit_head SET seq = :seq, hash = :hash, sealed_seq = :sealed_seq, "
                "sealed_hash = :sealed_hash, mac = :mac, key_version = :key_version"
            ),
            head,
        )


def _head(services: Services) -> dict[str, object]:
    with services.db.engine.begin() as connection:
        row = connection.execute(text("SELECT * FROM audit_head")).mappings().one()
    return dict(row)


def _verify(services: Services) -> tuple[bool, str | None]:
    with services.db.transaction() as session:
        report = services.audit.verify(session)
    return report.ok, report.problem


@pytest.mark.parametrize("anchored", [False, True])
def test_a_database_rolled_back_to_an_older_sealed_head(
    database_url: str, hsm: Hsm, tmp_path: Path, anchored: bool
) -> None:
    anchor = tmp_path / "audit-anchor.log" if anchored else None
    services = _services(database_url, hsm, anchor)
    _record(services, 3)
    old_head = _head(services)
    _record(services, 2)
    assert _verify(services) == (True, None)
    _roll_back_to_seq(services, int(old_head["seq"]), old_head)  # type: ignore[call-overload]
    ok, problem = _verify(services)
    if not anchored:
        assert ok  # the attack: the chain and its (older, genuine) seal verify
        return
    assert not ok
    assert problem is not None and "older copy of the database was restored" in problem
    assert stat.S_IMODE(anchor.stat().st_mode) == 0o600  # type: ignore[union-attr]


def test_a_rewritten_event_under_an_anchored_seal_is_found(
    database_url: str, hsm: Hsm, tmp_path: Path
) -> None:
    services = _services(database_url, hsm, tmp_path / "anchor.log")
    _record(services, 3)
    good = AnchorFile(tmp_path / "anchor.log").anchors()
    assert [a.seq for a in good][-1] == _head(services)["seq"]
    # a forged line (not the HSM's MAC) is ignored; the genuine one before it still counts
    AnchorFile(tmp_path / "anchor.log").append(good[-1].__class__(99, "f" * 64, "0" * 64, 1))
    assert _verify(services) == (True, None)


def test_a_rolled_back_transaction_anchors_nothing(
    database_url: str, hsm: Hsm, tmp_path: Path
) -> None:
    services = _services(database_url, hsm, tmp_path / "anchor.log")
    _record(services, 1)
    before = (tmp_path / "anchor.log").read_text()
    with pytest.raises(RuntimeError), services.db.engine.begin() as connection:
        services.audit.record(connection, actor="officer:test", action="test.undone")
        raise RuntimeError("the caller's transaction fails after the seal")
    assert (tmp_path / "anchor.log").read_text() == before
    assert _verify(services) == (True, None)
