"""Fixtures of the production stack: a PostgreSQL ledger of its own per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings
from tests.conftest import PG_MISSING, PG_URL


@pytest.fixture
def pg_ledger(catalog: Catalog) -> Iterator[Runtime]:
    """A migrated PostgreSQL ledger in a schema of its own (the stack's processes share it)."""
    if PG_MISSING:
        pytest.skip(PG_MISSING)
    schema = f"e_stack_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    rt = build_runtime(Settings(database_url=url.render_as_string(hide_password=False)), catalog)
    rt.init_ledger()
    try:
        yield rt
    finally:
        rt.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()
