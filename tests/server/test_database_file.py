"""The SQLite file holds wrapped seeds, password hashes and the audit trail: another local
user must not read it (or its WAL, which holds the newest writes)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from server.db.engine import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask: files would be 0644
    try:
        database = tmp_path / "var" / "otp.sqlite3"
        engine = make_engine(f"sqlite:///{database}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE secrets (value TEXT)"))
            connection.execute(text("INSERT INTO secrets VALUES ('wrapped')"))
            wal = database.with_name(database.name + "-wal")
            assert wal.exists()
            assert _mode(wal) == 0o600
        assert _mode(database) == 0o600
        assert _mode(database.parent) == 0o700
        engine.dispose()
    finally:
        os.umask(old_umask)


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "otp.sqlite3"
    database.touch()
    database.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert _mode(database) == 0o600
