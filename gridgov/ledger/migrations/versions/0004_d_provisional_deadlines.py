"""provisional deadlines: years without holiday data a case's deadline reaches

Revision ID: 0004_d_provisional_deadlines
Revises: 0003
Create Date: 2026-12-07 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_d_provisional_deadlines"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provisional_years", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_cases_provisional_years", ["provisional_years"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_provisional_years")
        batch_op.drop_column("provisional_years")
