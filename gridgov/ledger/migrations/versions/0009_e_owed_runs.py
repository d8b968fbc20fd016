"""owed runs and job holds (issue 12)

Revision ID: 0009_e_owed_runs
Revises: 0008_c_trail_seals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridgov.ledger.types

revision = "0009_e_owed_runs"
down_revision = "0008_c_trail_seals"
branch_labels = None
depends_on = None

UTC = gridgov.ledger.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "owed_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("owed_since", UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", UTC, nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("settled_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_owed_runs_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owed_runs")),
        sa.UniqueConstraint("key", name=op.f("uq_owed_runs_key")),
    )
    with op.batch_alter_table("owed_runs", schema=None) as batch_op:
        batch_op.create_index("ix_owed_runs_open", ["settled_at", "owed_since"], unique=False)
        batch_op.create_index(batch_op.f("ix_owed_runs_case_id"), ["case_id"], unique=False)
    op.create_table(
        "job_holds",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("held_until", UTC, nullable=True),
        sa.Column("last_completed_at", UTC, nullable=True),
        sa.Column("last_period", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_holds")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
    op.drop_table("job_holds")
    with op.batch_alter_table("owed_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owed_runs_case_id"))
        batch_op.drop_index("ix_owed_runs_open")
    op.drop_table("owed_runs")
