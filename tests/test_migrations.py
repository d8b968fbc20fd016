"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.ledger.base import Base
from gridgov.ledger.db import migrate
from gridgov.runtime import Runtime
from tests.conftest import at


def test_migrated_schema_matches_models(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_migrate_is_idempotent_and_indexes_the_sweep(runtime: Runtime) -> None:
    migrate(runtime.engine)  # second run: nothing to do, no error
    names = {ix["name"] for ix in inspect(runtime.engine).get_indexes("timers")}
    assert "ix_timers_due" in names
    # The sweep no longer reads cases by next_sweep_at: no index to keep up on every update.
    assert "ix_cases_next_sweep_at" not in {
        ix["name"] for ix in inspect(runtime.engine).get_indexes("cases")
    }
    uniques = inspect(runtime.engine).get_unique_constraints("case_events")
    assert any(u["column_names"] == ["idempotency_key"] for u in uniques)


def test_timers_migration_fills_from_open_cases_and_goes_down(runtime: Runtime) -> None:
    """0010_a_timers and 0012 (which drops the old sweep index) down and up again on a ledger
    with cases: the timers it fills from the cases' clock columns are the ones the writers
    keep."""
    from sqlalchemy import select

    from gridgov.ledger.db import alembic_config
    from gridgov.ledger.rows import TIMERS
    from tests.test_supervision import _open_dispatched

    _open_dispatched(runtime, 3)
    runtime.book.act(
        _open_dispatched(runtime, 1, start_hour=10)[0],
        EventKind.CANCELLED,
        Actor(Role.DISPATCHER, "d"),
        at(2026, 11, 23, 11),
        "cancel-mig",
        {"reason": "duplicate report"},
    )
    with runtime.engine.connect() as conn:
        kept = conn.execute(select(TIMERS).order_by(TIMERS.c.case_id)).all()
    assert len(kept) == 3  # the cancelled case runs no clock: no timer
    command.downgrade(alembic_config(runtime.engine), "0009_e_owed_runs")
    assert "timers" not in inspect(runtime.engine).get_table_names()
    assert "ix_cases_next_sweep_at" in {
        ix["name"] for ix in inspect(runtime.engine).get_indexes("cases")
    }
    migrate(runtime.engine)
    with runtime.engine.connect() as conn:
        assert conn.execute(select(TIMERS).order_by(TIMERS.c.case_id)).all() == kept
    assert "ix_timers_due" in {ix["name"] for ix in inspect(runtime.engine).get_indexes("timers")}


def test_notice_bodies_lz4_goes_down_and_up(runtime: Runtime) -> None:
    """0013_b: on PostgreSQL with lz4 the notices' bodies (the sweep's digests) are compressed
    with it; down to 0012 they are back to the server's default; up again, lz4 again. On
    SQLite (no compression) the migration does nothing either way."""
    import importlib

    from sqlalchemy import text

    from gridgov.ledger.db import alembic_config

    mig = importlib.import_module("gridgov.ledger.migrations.versions.0013_b_notice_bodies_lz4")

    def method() -> str | None:
        if runtime.engine.dialect.name != "postgresql":
            return None
        with runtime.engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT attcompression FROM pg_attribute "
                    "WHERE attrelid = 'notifications'::regclass AND attname = 'body'"
                )
            ).scalar()

    with runtime.engine.connect() as conn:
        lz4 = mig.has_lz4(conn)
    pg = runtime.engine.dialect.name == "postgresql"
    default = "" if pg else None  # "": the server's default_toast_compression
    assert method() == ("l" if lz4 else default)
    command.downgrade(alembic_config(runtime.engine), "0012_a_cases_without_sweep_index")
    assert method() == default
    migrate(runtime.engine)
    assert method() == ("l" if lz4 else default)
