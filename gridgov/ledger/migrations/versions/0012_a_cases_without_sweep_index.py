"""cases without ix_cases_next_sweep_at: the 督办 sweep reads ix_timers_due (issue 15)

The index made every sweep's ``cases`` update a non-HOT update on PostgreSQL (it wrote an
entry into every index of ``cases``); nothing reads it since the sweep reads ``timers``.

Revision ID: 0012_a_cases_without_sweep_index
Revises: 0011_b_event_hashes_by_seq
Create Date: 2026-12-07 20:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0012_a_cases_without_sweep_index"
down_revision = "0011_b_event_hashes_by_seq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_next_sweep_at")


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_next_sweep_at", ["next_sweep_at"], unique=False)
