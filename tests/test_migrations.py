"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gridgov.ledger.base import Base
from gridgov.ledger.db import migrate
from gridgov.runtime import Runtime


def test_migrated_schema_matches_models(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_migrate_is_idempotent_and_indexes_the_sweep(runtime: Runtime) -> None:
    migrate(runtime.engine)  # second run: nothing to do, no error
    names = {ix["name"] for ix in inspect(runtime.engine).get_indexes("cases")}
    assert "ix_cases_next_sweep_at" in names
    uniques = inspect(runtime.engine).get_unique_constraints("case_events")
    assert any(u["column_names"] == ["idempotency_key"] for u in uniques)
