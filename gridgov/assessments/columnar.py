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
import logging
import re
import sqlite3
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
log = logging.getLogger(__name__)


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

    def fetch(self, sql: str, kinds: Sequence[str] = ()) -> pa.Table:
        self.send(sql, kinds)
        return self.receive()

    def send(self, sql: str, kinds: Sequence[str] = ()) -> None:
        """Queue a statement; the child starts on it while the parent does other work.
        ``kinds``: each column's kind (``column``), for the child to prepare its text
        columns (``sqlite_reader.prepared``)."""
        assert self.proc.stdin is not None
        asked = {"sql": sql, "kinds": list(kinds)} if kinds else sql
        try:
            self.proc.stdin.write(json.dumps(asked).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as e:
            raise ArrowReadError(f"the SQLite reader process failed: {e}") from e

    def receive(self) -> pa.Table:
        """The answer to the oldest statement sent and not yet received."""
        assert self.proc.stdout is not None
        try:
            head = self.proc.stdout.read(8)
        except OSError as e:
            raise ArrowReadError(f"the SQLite reader process failed: {e}") from e
        if len(head) < 8:
            raise ArrowReadError(f"the SQLite reader process ended ({self.proc.poll()})")
        (size,) = struct.unpack("<q", head)
        if size < 0:
            raise ArrowReadError(self.proc.stdout.read(-size).decode(errors="replace"))
        return pa.ipc.open_stream(self.proc.stdout).read_all()

    def close(self) -> None:
        # Both pipes closed first: a child still writing an answer nobody will read (the
        # parent failed mid-read) gets a broken pipe and ends, instead of waiting on us.
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe:
                pipe.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ArrowReader:
    """One read transaction on the ledger, answered as Arrow tables: an ADBC connection
    (PostgreSQL) or the SQLite reader processes (one, or several on one snapshot: see
    ``open_arrow``)."""

    def __init__(self, conn: Any, dialect: Dialect, more: Sequence[SqliteChild] = ()) -> None:
        self._conn = conn
        self._more = list(more)
        self.dialect = dialect

    @property
    def readers(self) -> int:
        """How many processes read at once (statements given together to ``tables``)."""
        return 1 + len(self._more)

    def sql(self, stmt: ClauseElement, hint: str = "") -> str:
        """``stmt`` as SQL text; ``hint`` replaces the first table's name in its FROM clause
        (SQLite's ``INDEXED BY``/``NOT INDEXED``, which SQLAlchemy does not render)."""
        sql = str(stmt.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))
        if hint:
            table = hint.split()[0]
            sql, n = re.subn(rf"\bFROM {table}\b", f"FROM {hint}", sql, count=1)
            assert n == 1, f"no FROM {table} in the statement"
        return sql

    def table(self, stmt: ClauseElement, hint: str = "", kinds: Sequence[str] = ()) -> pa.Table:
        if isinstance(self._conn, SqliteChild):
            return self._conn.fetch(self.sql(stmt, hint), kinds)
        with self._conn.cursor() as cur:
            cur.execute(self.sql(stmt, hint))
            return cur.fetch_arrow_table()

    def tables(
        self, stmts: Sequence[tuple[ClauseElement, str, Sequence[str]]]
    ) -> Iterator[pa.Table]:
        """Each (statement, hint, kinds)'s result, in order. With several SQLite readers, statement
        i goes to reader i mod ``readers`` and every statement is sent before any answer is
        read: the readers work at once, and the caller can convert an answer while the
        others are still being read."""
        if not isinstance(self._conn, SqliteChild):
            for stmt, hint, _ in stmts:
                yield self.table(stmt, hint)
            return
        children = [self._conn, *self._more]
        for i, (stmt, hint, kinds) in enumerate(stmts):
            children[i % len(children)].send(self.sql(stmt, hint), kinds)
        for i in range(len(stmts)):
            yield children[i % len(children)].receive()

    def columns(
        self, stmt: ClauseElement, spec: Sequence[tuple[str, str]], hint: str = ""
    ) -> dict[str, Any]:
        return columns_of(self.table(stmt, hint, [kind for _, kind in spec]), spec)

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
def open_arrow(engine: Engine, readers: int = 1) -> Iterator[ArrowReader | None]:
    """An ``ArrowReader`` in one read transaction, or None (read through the driver).
    ``readers``: on SQLite, how many reader processes, all on one snapshot (``_pinned``);
    PostgreSQL is read through one connection."""
    target = adbc_uri(engine)
    if target is None or not _installed(target[0]):
        yield None
        return
    driver, uri = target
    if driver == "sqlite":
        children = _pinned(uri, readers)
        try:
            yield ArrowReader(children[0], engine.dialect, children[1:])
        finally:
            for child in children:
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


# Waits this long for a writer's transaction to end before reading with one process instead.
PIN_WAIT_S = 2.0


def _pinned(db: str, readers: int) -> list[SqliteChild]:
    """``readers`` SQLite reader processes whose read transactions see one snapshot.

    Each process starts its transaction while this process holds the write lock (``BEGIN
    IMMEDIATE``), so no commit can fall between their starts; the lock is let go at once
    (readers never wait for it: WAL). Where the lock cannot be had within ``PIN_WAIT_S`` (a
    long write under way, a read-only file), one process reads, as always before."""
    children = [SqliteChild(db) for _ in range(readers)]
    if readers == 1:
        return children
    try:
        lock = sqlite3.connect(db, timeout=PIN_WAIT_S, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            for child in children:  # a read starts each child's transaction (its snapshot)
                child.send(PIN_SQL)
            for child in children:
                child.receive()
            lock.execute("ROLLBACK")
        finally:
            lock.close()
    except (sqlite3.Error, ArrowReadError) as e:
        log.info("SQLite ledger read by one process: no common snapshot for %d (%s)", readers, e)
        for child in children[1:]:
            child.close()
        return children[:1]
    return children


PIN_SQL = "SELECT count(*) FROM sqlite_master"


def _installed(driver: str) -> bool:
    return importlib.util.find_spec(f"adbc_driver_{driver}") is not None


def joined(tables: Sequence[pa.Table]) -> pa.Table:
    """Results of one statement over parts of a table (``tables`` of a split scan) as one.
    ADBC's SQLite driver types a column by its values, so the parts may disagree: a column
    with no value in a part (int64 there) takes the type the other parts have, and a
    column of numbers in one part and text in another becomes text, as one read makes it."""
    if len(tables) == 1:
        return tables[0]
    fields = []
    for i in range(tables[0].num_columns):
        cols = [t.column(i) for t in tables]
        typed = {c.type for c in cols if c.null_count < len(c)}
        kind = typed.pop() if len(typed) == 1 else pa.string() if typed else cols[0].type
        fields.append(
            [pa.nulls(len(c), kind) if c.null_count == len(c) else c.cast(kind) for c in cols]
        )
    names = tables[0].column_names
    return pa.concat_tables(
        [pa.table([f[k] for f in fields], names=names) for k in range(len(tables))]
    )


# --------------------------------------------------------------------------- columns
def columns_of(table: pa.Table, spec: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A result's columns in the numpy/pandas forms of ``spec`` (see ``column``)."""
    return {name: column(table.column(i), kind) for i, (name, kind) in enumerate(spec)}


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
    if pa.types.is_dictionary(col.type):  # encoded by the SQLite reader process
        col = col.unify_dictionaries()
        dictionary = col.chunk(0).dictionary if col.num_chunks else pa.array([], pa.string())
        indices = pa.chunked_array([c.indices for c in col.chunks], col.type.index_type)
        values = np.array(dictionary.to_pylist(), dtype=object)
        codes = pc.fill_null(indices, -1).to_numpy().astype(np.int64)
    else:
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
