"""notifications.body compressed with lz4 on PostgreSQL: the 督办 sweep's digests (issue 15)

A sweep writes one notice per recipient listing every case it was told about (a digest of
~60 kB of JSON for ~300 cases). PostgreSQL compresses values that size on insert, by default
with pglz: for the 31 digests of a 1 % sweep of 1,000,000 cases, ~50-75 ms of server time
against ~20 ms with lz4 (same rows, load 6-7). Only values written from now on change.
Servers built without lz4 keep the default; SQLite does not compress: nothing to do there.

Revision ID: 0013_b_notice_bodies_lz4
Revises: 0012_a_cases_without_sweep_index
Create Date: 2026-12-08 02:15:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Connection, text

revision = "0013_b_notice_bodies_lz4"
down_revision = "0012_a_cases_without_sweep_index"
branch_labels = None
depends_on = None


def has_lz4(conn: Connection) -> bool:
    """Whether this server can compress with lz4 (PostgreSQL 14+, built with it)."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
            "WHERE name = 'default_toast_compression'"
        )
    ).scalar()
    return found is True


def upgrade() -> None:
    if has_lz4(op.get_bind()):
        op.execute("ALTER TABLE notifications ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if has_lz4(op.get_bind()):
        op.execute("ALTER TABLE notifications ALTER COLUMN body SET COMPRESSION DEFAULT")
