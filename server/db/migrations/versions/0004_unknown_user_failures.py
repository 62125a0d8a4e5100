"""unknown_user_failures: lock-outs for usernames without a credential

Without it a username that does not exist never answered `locked`, which told who is a
customer.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unknown_user_failures",
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    with op.batch_alter_table("unknown_user_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_unknown_user_failures_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("unknown_user_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unknown_user_failures_updated_at"))
    op.drop_table("unknown_user_failures")
