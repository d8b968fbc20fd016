"""event hashes keyed by (case id, seq), written by every writer; chain computed once

Every writer now stores an event's hash in the transaction that writes the event, before the
database numbers the row, so ``event_hashes`` is keyed like the event by (case id, seq)
instead of by the event's id, and says which checkpoint sealed it (``checkpoint_id``; event
ids are not commit-ordered on PostgreSQL, so a seal cannot take "every id up to N"). The hashes already stored are kept as they are (they are what
the existing checkpoints signed); every event not hashed yet gets its hash once, continuing
its case's stored chain, and the next ``gridgov audit seal`` says so in its checkpoint's note
(the migration cannot sign: the database writer does not hold the key).

Revision ID: 0011_b_event_hashes_by_seq
Revises: 0010_a_timers
Create Date: 2026-12-07 19:45:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import gridgov.ledger.types
from gridgov.ledger import chain

revision = "0011_b_event_hashes_by_seq"
down_revision = "0010_a_timers"
branch_labels = None
depends_on = None

COPY = "event_hashes_b_copy"


def upgrade() -> None:
    conn = op.get_bind()
    # Which checkpoint sealed each stored hash: 0008's seals took every event up to their
    # upto_event_id.
    conn.exec_driver_sql(
        f"CREATE TABLE {COPY} AS SELECT h.case_id, h.seq, h.hash, "
        "(SELECT min(t.id) FROM trail_checkpoints t WHERE t.upto_event_id >= h.event_id) "
        "AS checkpoint_id FROM event_hashes h"
    )
    with op.batch_alter_table("event_hashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_hashes_case_id"))
    op.drop_table("event_hashes")
    op.create_table(
        "event_hashes",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "seq", name=op.f("pk_event_hashes")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("event_hashes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_hashes_checkpoint_id"), ["checkpoint_id"], unique=False
        )
    conn.exec_driver_sql(
        "INSERT INTO event_hashes (case_id, seq, hash, checkpoint_id) "
        f"SELECT case_id, seq, hash, checkpoint_id FROM {COPY}"
    )
    op.drop_table(COPY)
    done = chain.rehash_missing(conn)
    if done:
        settings = sa.table(
            "ledger_settings",
            sa.column("key", sa.String()),
            sa.column("value", sa.String()),
            sa.column("set_at", gridgov.ledger.types.UTCDateTime(timezone=True)),
        )
        note = (
            f"chain computed once by migration {revision} for {done} events "
            "written before every writer hashed its events"
        )
        conn.execute(
            sa.insert(settings).values(key=chain.PENDING_NOTE, value=note, set_at=datetime.now(UTC))
        )


def downgrade() -> None:
    conn = op.get_bind()
    conn.exec_driver_sql(
        f"CREATE TABLE {COPY} AS SELECT e.id AS event_id, h.case_id, h.seq, h.hash "
        "FROM event_hashes h JOIN case_events e ON e.case_id = h.case_id AND e.seq = h.seq"
    )
    op.drop_table("event_hashes")
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
    conn.exec_driver_sql(
        f"INSERT INTO event_hashes (event_id, case_id, seq, hash) "
        f"SELECT event_id, case_id, seq, hash FROM {COPY}"
    )
    op.drop_table(COPY)
