"""case attributes: an imported history's unmapped columns and its own channel value

Revision ID: 0005_d_case_attributes
Revises: 0004_d_provisional_deadlines
Create Date: 2026-12-07 17:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_d_case_attributes"
down_revision = "0004_d_provisional_deadlines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("source_channel", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("source_channel")
        batch_op.drop_column("attributes")
