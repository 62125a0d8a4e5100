"""The Alembic migrations build exactly the schema the models describe, and go back down."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import server.db.models  # noqa: F401 - registers every table on SQLModel.metadata
from server.db.migrate import alembic_config, upgrade


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
