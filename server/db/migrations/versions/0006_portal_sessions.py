"""portal_sessions: server-side portal sessions that can be ended at once

A session that lived only in an encrypted cookie could not be revoked: a copy taken
before logout opened the portal until its own time ran out. The cookie now holds a random
id whose SHA-256 is kept here with the customer, the times and why the session ended.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("public_id", sa.String(length=24), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("authenticated_at", sa.Float(), nullable=True),
        sa.Column("last_seen_at", sa.Float(), nullable=False),
        sa.Column("user_agent", sa.String(length=80), nullable=False),
        sa.Column("client_address", sa.String(length=100), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("ended_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_sessions_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_sessions_id_hash"), ["id_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_sessions_id_hash"))
        batch_op.drop_index(batch_op.f("ix_portal_sessions_customer_id"))
    op.drop_table("portal_sessions")
