"""Alembic environment: runs migrations on the URL given in the configuration."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import server.db.models  # noqa: F401 - registers the tables on SQLModel.metadata
from server.db.engine import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None  # noqa: S101 - set by server.db.migrate

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
