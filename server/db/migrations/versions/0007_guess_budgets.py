"""guess_budgets: wrong-guess budgets per credential and pool, instead of lock-outs

Lock-outs that doubled and never decayed let anyone who knew a username keep its customer
out, and still let about 200 guesses a day through (issue 20). Each credential now has a
token bucket per pool (unknown contexts with and without the password checked, and each
context the customer got in from), cut to a yearly success goal (docs/design.md §4).
Usernames without a credential get the same buckets; their old lock-out table goes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guess_budgets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("last_success", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("guess_budgets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guess_budgets_updated_at"), ["updated_at"])
    with op.batch_alter_table("unknown_user_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unknown_user_failures_updated_at"))
    op.drop_table("unknown_user_failures")


def downgrade() -> None:
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
    with op.batch_alter_table("guess_budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guess_budgets_updated_at"))
    op.drop_table("guess_budgets")
