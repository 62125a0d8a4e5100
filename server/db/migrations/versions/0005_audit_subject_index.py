"""drop the index on audit_events.subject

Every verify decision inserts an audit event, so every index on the table is paid per
request: the one on `subject` (the username, a random place in the B-tree) cost ~10 µs of
the ~19 µs an event took to insert on SQLite. Nothing needs it: the only queries on
`subject` (KEK rotation) also select on `action`, whose index finds their few events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_subject")


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_subject", ["subject"], unique=False)
