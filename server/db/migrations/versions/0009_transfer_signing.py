"""transfer_signing: the responses accepted for transfers, and each client's signing rule

`signature_uses` remembers each accepted transfer signature by credential, OCRA time step
and question, so that a response counts once (docs/protocol.md §6). A relying party's
`sign_transfers_above` (cents) makes a plain code too weak for larger transfers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signature_uses",
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("time_step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("question", sa.String(length=128), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["credential_id"], ["credentials.id"]),
        sa.PrimaryKeyConstraint("credential_id", "time_step", "question"),
    )
    with op.batch_alter_table("signature_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signature_uses_used_at"), ["used_at"])
    with op.batch_alter_table("relying_parties", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sign_transfers_above", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("relying_parties", schema=None) as batch_op:
        batch_op.drop_column("sign_transfers_above")
    with op.batch_alter_table("signature_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_uses_used_at"))
    op.drop_table("signature_uses")
