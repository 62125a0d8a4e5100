"""drop the index on credentials.status

Three values only, and it misled SQLite's planner: looking up a batch of usernames walked
every active credential through it (23 ms for 32 users among 40,000, against 0.1 ms by
username and customer).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_credentials_status")


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index("ix_credentials_status", ["status"], unique=False)
