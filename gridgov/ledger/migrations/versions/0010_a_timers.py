"""督办 timers: one narrow row per case with a supervision-ladder step ahead (issue 15)

Filled from the open cases of an existing ledger: a case's timer is its running limit, the
ladder steps taken on it and when the next one falls due (``clock_kind``, ``ladder_done``,
``next_sweep_at``; the same columns ``ledger.rows.TIMER_FROM_CASE`` names). One
``INSERT … SELECT`` on both backends.

Revision ID: 0010_a_timers
Revises: 0009_e_owed_runs
Create Date: 2026-12-07 19:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridgov.ledger.types

revision = "0010_a_timers"
down_revision = "0009_e_owed_runs"
branch_labels = None
depends_on = None

UTC = gridgov.ledger.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("limit_kind", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("due", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_timers_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_timers")),
    )
    # Filled before the index is built: one sort instead of a million index inserts.
    op.execute(
        "INSERT INTO timers (case_id, limit_kind, step, due) "
        "SELECT id, clock_kind, ladder_done, next_sweep_at FROM cases "
        "WHERE next_sweep_at IS NOT NULL AND clock_kind IS NOT NULL"
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_due", ["due"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_due")
    op.drop_table("timers")
