"""case_events append-only: triggers refuse UPDATE/DELETE 

Revision ID: 0007_c_append_only
Revises: 0006_d_ledger_settings
Create Date: 2026-12-07 17:10:00
"""

from __future__ import annotations

from alembic import op

from gridgov.ledger import append_only

revision = "0007_c_append_only"
down_revision = "0006_d_ledger_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    append_only.install(op.get_bind())


def downgrade() -> None:
    append_only.remove(op.get_bind())
