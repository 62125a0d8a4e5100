"""The Alembic migrations build exactly the schema the models describe, and go back down."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session, SQLModel, select

import server.db.models  # noqa: F401 - registers every table on SQLModel.metadata
from server.db.migrate import alembic_config, upgrade
from server.db.models import Credential


def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_every_migration_goes_down_and_up_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/roundtrip.sqlite3"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    assert "guess_budgets" in inspect(engine).get_table_names()
    engine.dispose()


def test_a_credential_made_before_ocra_seeds_keeps_its_seed_and_has_none(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0008 adds the OCRA seed's columns as nulls: an older credential is read as before,
    without an OCRA seed, and going back down keeps its seed."""
    url = f"sqlite:///{tmp_path}/ocra.sqlite3"
    upgrade(url, "0007")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customers (id, username, email, display_name, password_hash,"
                " status, created_at) VALUES (1, 'ana', 'a@example.com', '', 'x', 'active', 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO credentials (id, public_id, customer_id, kind, wrapped_seed,"
                " kek_version, seed_length, algorithm, digits, period, last_step, drift,"
                " failure_count, lockouts, status, created_at, updated_at) VALUES (1, 'cred_old',"
                " 1, 'totp', x'0102', 1, 20, 'SHA1', 6, 60, -1, 0, 0, 0, 'active', 0, 0)"
            )
        )
    upgrade(url)
    with Session(engine) as session:
        row = session.exec(select(Credential)).one()
    assert (row.wrapped_seed, row.kek_version, row.seed_length) == (b"\x01\x02", 1, 20)
    assert (row.ocra_suite, row.ocra_wrapped_seed, row.ocra_seed_length) == (None, None, None)
    command.downgrade(alembic_config(url), "0007")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT wrapped_seed FROM credentials")).scalar_one() == (
            b"\x01\x02"
        )
    engine.dispose()
