"""Shared fixtures: a ledger on SQLite and on the real PostgreSQL, the shipped catalogue."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from gridgov.item_catalog.loader import Catalog, load_catalog
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings

PG_URL = os.environ.get("GRIDGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TZ = ZoneInfo("Asia/Shanghai")
CASE_TABLES = (
    "notifications",
    "event_hashes",
    "trail_checkpoints",
    "case_events",
    "cases",
    "case_counters",
    "api_keys",
    "owed_runs",
    "job_holds",
)


def at(*args: int) -> datetime:
    """A moment in Shenzhen local time."""
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        return f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string()}: {exc}"


PG_MISSING = _pg_available()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(Settings().catalog_dir)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    path = tmp_path_factory.mktemp("ledger") / "template.sqlite3"
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"), catalog)
    rt.init_ledger()
    rt.engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema_url(catalog: Catalog) -> Iterator[str]:
    if PG_MISSING:
        pytest.skip(PG_MISSING)
    schema = f"gridgov_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url_s = url.render_as_string(hide_password=False)
    rt = build_runtime(Settings(database_url=url_s), catalog)
    rt.init_ledger()
    rt.engine.dispose()
    yield url_s
    with admin.begin() as conn:
        conn.execute(text(f'drop schema "{schema}" cascade'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated ledger with the catalogue loaded and no cases, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_schema_url")
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text(f"truncate {', '.join(CASE_TABLES)} restart identity cascade"))
    eng.dispose()
    return url


@pytest.fixture
def runtime(ledger_url: str, catalog: Catalog) -> Iterator[Runtime]:
    rt = build_runtime(Settings(database_url=ledger_url), catalog)
    yield rt
    rt.engine.dispose()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One real Prefect server (temporary database) for the whole test session."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def rt(ledger_url: str, prefect_server: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The process-wide runtime the flows use, pointed at this test's ledger (both backends)."""
    from gridgov.runtime import default_runtime, reset_runtime

    monkeypatch.setenv("GRIDGOV_DATABASE_URL", ledger_url)
    monkeypatch.setenv("GRIDGOV_SPOT_CHECK_SHARE", "0")
    reset_runtime()
    yield default_runtime()
    default_runtime().engine.dispose()
    reset_runtime()


@pytest.fixture
def busy_sqlite(tmp_path: Path, sqlite_template: Path, catalog: Catalog) -> Iterator[Runtime]:
    """A SQLite ledger that gives up after 50 ms when another writer holds the file (the
    shipped busy_timeout is 30 s): for tests of what happens when the ledger stays locked."""
    path = tmp_path / "busy.sqlite3"
    shutil.copy(sqlite_template, path)
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"), catalog)
    event.listen(rt.engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=50"))
    yield rt
    rt.engine.dispose()


@contextmanager
def own_ledger(backend: str, catalog: Catalog, directory: Path) -> Iterator[str]:
    """A migrated ledger of its own with ``catalog`` loaded (a test catalogue that differs from
    the shipped one): a SQLite file in ``directory``, or a PostgreSQL schema named with the
    test-writer's letter, dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'own.sqlite3'}"
        rt = build_runtime(Settings(database_url=url), catalog)
        rt.init_ledger()
        rt.engine.dispose()
        yield url
        return
    if PG_MISSING:
        pytest.skip(PG_MISSING)
    schema = f"gridgov_test_d_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    pg = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url = pg.render_as_string(hide_password=False)
    try:
        rt = build_runtime(Settings(database_url=url), catalog)
        rt.init_ledger()
        rt.engine.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@contextmanager
def write_locked(rt: Runtime) -> Iterator[sqlite3.Connection]:
    """Another process's long write transaction on ``rt``'s SQLite file."""
    assert rt.engine.url.database
    other = sqlite3.connect(rt.engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()
