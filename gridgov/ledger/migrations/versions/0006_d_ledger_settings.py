"""ledger settings: the zone the ledger counts days and months in

Revision ID: 0006_d_ledger_settings
Revises: 0005_d_case_attributes
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridgov.ledger.types

revision = "0006_d_ledger_settings"
down_revision = "0005_d_case_attributes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_settings",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("set_at", gridgov.ledger.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ledger_settings")),
    )


def downgrade() -> None:
    op.drop_table("ledger_settings")
