"""``case_events`` is append-only in the database, not only in a docstring: triggers refuse
UPDATE and DELETE whoever connects (TRUNCATE is a privilege: revoke it from the application
role, see the docs; the test fixtures truncate their own schemas). Installed by migration
``0007_c_append_only_events``; see docs/audit-trail.md for the roles to use on PostgreSQL.

A database owner can still drop a trigger; that is what the hash chain and the signed
checkpoints are for (``ledger/chain.py``)."""

from __future__ import annotations

from sqlalchemy import Connection

TABLE = "case_events"
SQLITE = (
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused'); END",
)
SQLITE_DROP = (
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
)
POSTGRES = (
    f"""CREATE OR REPLACE FUNCTION {TABLE}_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = '{TABLE} is append-only: ' || TG_OP || ' refused';
    END $$""",
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"""CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TABLE}_refuse_change()""",
)
POSTGRES_DROP = (
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {TABLE}_refuse_change()",
)


def install(conn: Connection) -> None:
    """Create the triggers (idempotent)."""
    for sql in POSTGRES if conn.dialect.name == "postgresql" else SQLITE:
        conn.exec_driver_sql(sql)


def remove(conn: Connection) -> None:
    """Drop the triggers: for migrations that rewrite history on purpose (and for the
    corruption tests, which play a database owner falsifying the trail)."""
    for sql in POSTGRES_DROP if conn.dialect.name == "postgresql" else SQLITE_DROP:
        conn.exec_driver_sql(sql)
