"""Read the ledger through Arrow (ADBC): the columns come as C arrays, never as Python objects.

The Python drivers (sqlite3, psycopg) build one Python object per value; a month with a
million due cases reads about four million event rows, and that was 75–80 % of the
assessment's time (docs/assessment.md, "Performance"). ADBC's SQLite and PostgreSQL drivers
hand back Arrow record batches instead, which become numpy columns without a per-value step.

Statements are still built with SQLAlchemy (``extract.py``), compiled for the ledger's dialect
with their parameters rendered inline: they only ever hold our own constants (status and kind
names, the window's moments), never user input. All statements of one read run in one
transaction on one ADBC connection, so they see one snapshot (REPEATABLE READ on PostgreSQL).
SQLite is read by a child process (``sqlite_reader.py``: ADBC's SQLite driver brings its own
copy of the SQLite library, which must not share a process with the sqlite3 module's).

Where ADBC cannot reach the ledger (an in-memory SQLite, e.g. an export opened offline) or its
drivers are not installed, ``open_arrow`` answers None and the caller reads through the
SQLAlchemy connection as before (``extract.frame``).
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import ClauseElement

NEVER = np.iinfo(np.int64).max


class ArrowReadError(RuntimeError):
    """The SQLite reader process refused a statement or died."""


class SqliteChild:
    """The SQLite reader process (``sqlite_reader.py``): same calls as an ADBC connection's
    cursor, answered from the child's one read transaction."""

    def __init__(self, db: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridgov.assessments.sqlite_reader", db],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def fetch(self, sql: str) -> pa.Table:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(sql).encode() + b"\n")
            self.proc.stdin.flush()
            head = self.proc.stdout.read(8)
        except OSError as e:
            raise ArrowReadError(f"the SQLite reader process failed: {e}") from e
        if len(head) < 8:
            raise ArrowReadError(f"the SQLite reader process ended ({self.proc.poll()})")
        (size,) = struct.unpack("<q", head)
        body = self.proc.stdout.read(abs(size))
        if size < 0:
            raise ArrowReadError(body.decode(errors="replace"))
        return pa.ipc.open_stream(pa.py_buffer(body)).read_all()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class ArrowReader:
    """One read transaction on the ledger, answered as Arrow tables: an ADBC connection
    (PostgreSQL) or the SQLite reader process."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn
        self.dialect = dialect

    def sql(self, stmt: ClauseElement, hint: str = "") -> str:
        """``stmt`` as SQL text; ``hint`` replaces the first table's name in its FROM clause
        (SQLite's ``INDEXED BY``/``NOT INDEXED``, which SQLAlchemy does not render)."""
        sql = str(stmt.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))
        if hint:
            table = hint.split()[0]
            sql, n = re.subn(rf"\bFROM {table}\b", f"FROM {hint}", sql, count=1)
            assert n == 1, f"no FROM {table} in the statement"
        return sql

    def table(self, stmt: ClauseElement, hint: str = "") -> pa.Table:
        if isinstance(self._conn, SqliteChild):
            return self._conn.fetch(self.sql(stmt, hint))
        with self._conn.cursor() as cur:
            cur.execute(self.sql(stmt, hint))
            return cur.fetch_arrow_table()

    def columns(
        self, stmt: ClauseElement, spec: Sequence[tuple[str, str]], hint: str = ""
    ) -> dict[str, Any]:
        t = self.table(stmt, hint)
        return {name: column(t.column(i), kind) for i, (name, kind) in enumerate(spec)}

    def frame(
        self, stmt: ClauseElement, spec: Sequence[tuple[str, str]], hint: str = ""
    ) -> pd.DataFrame:
        return pd.DataFrame(self.columns(stmt, spec, hint))

    def scalar(self, stmt: ClauseElement) -> Any:
        t = self.table(stmt)
        return t.column(0)[0].as_py()


def adbc_uri(engine: Engine) -> tuple[str, str] | None:
    """(driver, URI) for ADBC, or None when ADBC cannot open this ledger."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        db = url.database
        if not db or db == ":memory:" or db.startswith("file:"):
            return None  # in memory (StaticPool): only this process's connection sees it
        return "sqlite", db
    if url.get_backend_name() == "postgresql":
        return "postgresql", url.set(drivername="postgresql").render_as_string(hide_password=False)
    return None


def arrow_errors() -> tuple[type[BaseException], ...]:
    """What a failed Arrow read raises (the driver manager's DB-API errors, Arrow's own, the
    SQLite reader process's)."""
    try:
        from adbc_driver_manager import Error
    except ImportError:
        return (pa.ArrowException, ArrowReadError)
    return (Error, pa.ArrowException, ArrowReadError)


@contextmanager
def open_arrow(engine: Engine) -> Iterator[ArrowReader | None]:
    """An ``ArrowReader`` in one read transaction, or None (read through the driver)."""
    target = adbc_uri(engine)
    if target is None or not _installed(target[0]):
        yield None
        return
    driver, uri = target
    if driver == "sqlite":
        child = SqliteChild(uri)
        try:
            yield ArrowReader(child, engine.dialect)
        finally:
            child.close()
        return
    import adbc_driver_postgresql.dbapi as pg_dbapi

    conn = pg_dbapi.connect(uri)
    try:
        with conn.cursor() as cur:  # the DB-API layer already opened a transaction
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield ArrowReader(conn, engine.dialect)
        conn.rollback()  # read only: nothing to keep
    finally:
        conn.close()


def _installed(driver: str) -> bool:
    return importlib.util.find_spec(f"adbc_driver_{driver}") is not None


# --------------------------------------------------------------------------- columns
def column(col: pa.ChunkedArray, kind: str) -> Any:
    """One Arrow column → the numpy/pandas form ``extract.frame`` gives for ``kind``."""
    if kind == "int":
        return _plain(col).to_numpy().astype(np.int64, copy=False)
    if kind == "time":
        return utc_us(col)
    if kind == "cat":
        return categorical(col)
    if kind == "bool":
        return np.array([None if v is None else bool(v) for v in col.to_pylist()], dtype=object)
    if kind == "json":
        return np.array([_json(v) for v in col.to_pylist()], dtype=object)
    return np.array(col.to_pylist(), dtype=object)


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Null-typed columns (SQLite: no value in the rows the driver looked at) as strings."""
    if pa.types.is_null(col.type):
        return col.cast(pa.string())
    return col


def utc_us(col: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Timestamps → int64 µs since the epoch (UTC), ``NEVER`` where missing. SQLite gives
    the stored naive-UTC text ("2026-10-12 01:00:00.000000"), PostgreSQL a timestamp."""
    col = _plain(col)
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            col = col.cast(pa.timestamp("us"))
        except pa.ArrowInvalid:  # a form Arrow's ISO parser refuses: let pandas read it
            parsed = pd.to_datetime(col.to_numpy(zero_copy_only=False), format="ISO8601", utc=True)
            out = np.asarray(parsed.as_unit("us").asi8, dtype=np.int64).copy()
            out[np.asarray(parsed.isna())] = NEVER
            return out
        t = col.type
    if pa.types.is_timestamp(t):
        if t.unit != "us":
            col = col.cast(pa.timestamp("us", tz=t.tz))
        col = col.cast(pa.int64())
    return np.asarray(pc.fill_null(col, NEVER).to_numpy(), dtype=np.int64)


def categorical(col: pa.ChunkedArray) -> pd.Categorical:
    """Dictionary-encode in Arrow; categories sorted, as ``pd.Categorical(values)`` makes
    them (tables grouped by a category come out in that order)."""
    col = _plain(col)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = col.cast(pa.string())
    enc = pc.dictionary_encode(col.combine_chunks())
    values = np.array(enc.dictionary.to_pylist(), dtype=object)
    codes = pc.fill_null(enc.indices, -1).to_numpy().astype(np.int64)
    if values.size == 0:  # every value missing
        return pd.Categorical.from_codes(codes, categories=pd.Index([], dtype=object))
    order = np.argsort(values, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
    return pd.Categorical.from_codes(codes, categories=values[order])


def _json(v: Any) -> Any:
    if isinstance(v, bytes | bytearray):
        v = v.decode()
    if isinstance(v, str):
        return json.loads(v)
    return v
