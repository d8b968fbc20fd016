"""Fixtures of the production stack: a PostgreSQL ledger of its own per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime
from tests.conftest import PG_MISSING, PG_URL
from tests.production.harness import pg_ledger as ledger_schema


@pytest.fixture
def pg_ledger(catalog: Catalog) -> Iterator[Runtime]:
    """A migrated PostgreSQL ledger in a schema of its own (the stack's processes share it)."""
    if PG_MISSING:
        pytest.skip(PG_MISSING)
    with ledger_schema(PG_URL, catalog, "e_stack") as rt:
        yield rt
