"""ocra_seeds: a credential's OCRA seed for transaction signing, beside its TOTP seed

Each provisioned credential gets an OCRA seed of its own (docs/protocol.md §6): its suite,
the seed wrapped under the same KEK version as the TOTP seed (`kek_version`, which KEK
rotation moves for both blobs at once), and its true length. All three are null for a
credential without one: those made before this, and imported ones.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ocra_suite", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("ocra_wrapped_seed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("ocra_seed_length", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("ocra_seed_length")
        batch_op.drop_column("ocra_wrapped_seed")
        batch_op.drop_column("ocra_suite")
