"""trail seals: each event's chained hash and the signed checkpoints

The chain of existing ledgers is computed once by the first ``gridgov audit seal`` (the
migration cannot sign: the database writer does not hold the key); that first checkpoint's
note says so.

Revision ID: 0008_c_trail_seals
Revises: 0007_c_append_only
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gridgov.ledger.types

revision = "0008_c_trail_seals"
down_revision = "0007_c_append_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_hashes",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_events.id"], name=op.f("fk_event_hashes_event_id_case_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_hashes")),
    )
    with op.batch_alter_table("event_hashes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_hashes_case_id"), ["case_id"], unique=False)
    op.create_table(
        "trail_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sealed_at", gridgov.ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("upto_event_id", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trail_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("trail_checkpoints")
    with op.batch_alter_table("event_hashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_hashes_case_id"))
    op.drop_table("event_hashes")
