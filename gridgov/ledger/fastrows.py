"""executemany of plain rows (built by ``ledger.rows``) with the one encoder's value
conversion, done once per distinct value; and PostgreSQL's COPY of rows in stored form.

Bulk paths (the 督办 sweep, machine-event intake, simulation loads) write thousands of rows
whose datetimes repeat (``now``, a batch's arrival time): converting each distinct value once
and handing the driver ready tuples halves their cost against Core's per-row processing,
while storing exactly what the ORM would (e.g. SQLite's ``YYYY-MM-DD HH:MM:SS.ffffff`` text,
compared as text by range queries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, Table, bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from gridgov.ledger.rows import Encoder, Processor
from gridgov.ledger.types import UTCDateTime


class _Memo:
    """A bind processor with a memo: repeated values are converted once."""

    __slots__ = ("memo", "proc")

    def __init__(self, proc: Processor) -> None:
        self.proc = proc
        self.memo: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        try:
            return self.memo[value]
        except KeyError:
            out = self.memo[value] = self.proc(value)
            return out
        except TypeError:  # unhashable (dicts, lists): convert every time
            return self.proc(value)


# Below this many rows a pipelined executemany beats starting a COPY (PostgreSQL, measured on
# the sweep: a COPY of 20 events took ~12 ms under load, about what 200 rows take).
COPY_FROM = 200


def _positional(conn: Connection) -> Any:
    """The connection's dialect, with positional %s placeholders where the driver takes named
    ones: parameters as tuples adapt faster than one dict per row."""
    dialect = conn.dialect
    if dialect.paramstyle in ("pyformat", "named"):
        return cast(Any, type(dialect))(paramstyle="format")
    return dialect


def _dialect_key(conn: Connection) -> tuple[Any, ...]:
    """What a compiled statement and its value conversions depend on."""
    d = conn.dialect
    return (type(d), d.paramstyle, d.server_version_info)


class _Plan:
    """A :class:`BulkStatement` compiled for one kind of dialect, kept for the process:
    compiling the SQL and looking up each column's conversions cost ~2 ms of CPU a statement
    (with its read compiled once too, a 督办 sweep of 200 due cases fell from ~16 to ~9 ms of
    CPU: benchmarks/supervision.py's 0.1 % sweep is 1,000)."""

    def __init__(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        where: Sequence[str],
        raw: Sequence[str],
        wrap: Mapping[str, Callable[[Any], Any]],
    ) -> None:
        names = list(columns) + list(where)
        values = {
            c: wrap[c](bindparam(f"s_{c}")) if c in wrap else bindparam(f"s_{c}") for c in columns
        }
        if where:
            stmt: Any = update(table).values(values)
            for c in where:
                stmt = stmt.where(table.c[c] == bindparam(f"w_{c}"))
            keys = [f"s_{c}" for c in columns] + [f"w_{c}" for c in where]
        else:
            stmt = insert(table).values(values)
            keys = [f"s_{c}" for c in columns]
        compiled = stmt.compile(dialect=_positional(conn))
        # No RETURNING of generated keys: nobody reads them and it slows executemany down.
        self.sql: str = compiled.string.split(" RETURNING ")[0]
        order = compiled.positiontup
        # Parameters as the driver wants them: positional (qmark) in SQL order, else named.
        self.index: list[int] | None = None
        self.keys: list[str] | None = None
        if order is None:
            self.keys = keys
        elif [keys.index(k) for k in order] != list(range(len(keys))):
            self.index = [keys.index(k) for k in order]
        self.names = names
        self.where = list(where)
        self.table = conn.dialect.identifier_preparer.format_table(table)
        enc = Encoder.of(conn)
        self.procs = {n: p for n in names if (p := enc.processor(table.c[n].type, conn))}
        self.conv = [(i, n) for i, n in enumerate(names) if n in self.procs and n not in raw]


_PLANS: dict[tuple[Any, ...], _Plan] = {}


class BulkStatement:
    """One INSERT or UPDATE … WHERE compiled for the connection's dialect, run with executemany
    over tuples in ``columns`` order (for UPDATE: the SET columns, then the WHERE columns)."""

    def __init__(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        where: Sequence[str] = (),
        *,
        raw: Sequence[str] = (),
        wrap: Mapping[str, Callable[[Any], Any]] | None = None,
        times: dict[Any, Any] | None = None,
    ) -> None:
        """``raw``: columns whose values the caller gives ready for the driver (e.g. JSON
        text from ``rows.json_text``), passed through unconverted. ``wrap``: SQL around a
        SET value, e.g. ``coalesce(:v, col)`` (give the same mapping each time: the compiled
        statement is kept per mapping). ``times``: a memo of converted timestamps to share
        between statements that write the same moments."""
        self.conn = conn
        key = (
            _dialect_key(conn),
            table,
            tuple(columns),
            tuple(where),
            tuple(raw),
            tuple((wrap or {}).items()),
        )
        plan = _PLANS.get(key)
        if plan is None:
            if len(_PLANS) > 512:  # callers giving a new ``wrap`` every time: stay bounded
                _PLANS.clear()
            plan = _PLANS[key] = _Plan(conn, table, columns, where, raw, wrap or {})
        self.sql = plan.sql
        self._index, self._keys = plan.index, plan.keys
        self._names, self._where, self._table = plan.names, plan.where, plan.table
        # Memos per statement, not per plan: they hold one write's values.
        self._procs = {n: _Memo(p) for n, p in plan.procs.items()}
        if times is not None:  # one memo for every timestamp column, shared with others
            for n, memo in self._procs.items():
                if isinstance(table.c[n].type, UTCDateTime):
                    memo.memo = times
        self._conv = [(i, self._procs[n]) for i, n in plan.conv]

    def value(self, column: str, value: Any) -> Any:
        """``value`` as the driver wants it for ``column``: for a constant shared by every
        row, converted once and passed in a ``raw`` column."""
        proc = self._procs.get(column)
        return value if proc is None or value is None else proc(value)

    def execute(self, rows: Iterable[Sequence[Any]]) -> int:
        """Run for every row; returns the driver's rowcount (-1 when it does not say)."""
        params = self._converted(rows)
        if not params:
            return 0
        if self._index is not None:
            idx = self._index
            params = [tuple([r[i] for i in idx]) for r in params]
        elif self._keys is not None:
            keys = self._keys
            params = [dict(zip(keys, r, strict=True)) for r in params]
        result = self.conn.exec_driver_sql(self.sql, params)
        return result.rowcount

    def copy(self, rows: Iterable[Sequence[Any]]) -> int:
        """An INSERT's rows, on PostgreSQL (psycopg 3) as one ``COPY … FROM STDIN`` stream in
        the connection's transaction — one round trip instead of one statement per row, with
        the same values; elsewhere :meth:`execute`. Returns the number of rows."""
        driver = self.conn.connection.driver_connection
        if self._where or self.conn.dialect.driver != "psycopg" or driver is None:
            return self.execute(rows)
        rows = list(rows)
        if len(rows) < COPY_FROM:
            return self.execute(rows)
        params = self._converted(rows)
        if params:
            copy_rows(self.conn, self._table, self._names, params)
        return len(params)

    def _converted(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        """The rows as tuples in ``columns`` order, each value converted for the driver."""
        conv = [(i, p.memo, p.proc) for i, p in self._conv]
        params: list[Any] = []
        if not conv:
            params = [tuple(r) for r in rows]
        for row in rows if conv else ():
            values = list(row)
            for i, memo, proc in conv:  # _Memo inlined: this loop runs per value
                v = values[i]
                if v is not None:
                    try:
                        values[i] = memo[v]
                    except KeyError:
                        values[i] = memo[v] = proc(v)
                    except TypeError:  # unhashable
                        values[i] = proc(v)
            params.append(tuple(values))
        return params


_STATEMENTS: dict[tuple[Any, ...], tuple[Any, str, tuple[str, ...], dict[str, Any]]] = {}


def run_compiled(conn: Connection, stmt: ClauseElement, values: Mapping[str, Any]) -> list[Any]:
    """The driver's rows of a Core statement built once (at import), compiled once per kind of
    dialect instead of per call; ``values`` are its bound parameters by name, in the driver's
    form (``Encoder``), the others as the statement holds them (give each a default value:
    ``bindparam(name, None)``)."""
    key = (_dialect_key(conn), id(stmt))
    found = _STATEMENTS.get(key)
    if found is None or found[0] is not stmt:
        # IN lists of constants become one placeholder per value (their values in defaults).
        compiled: Any = stmt.compile(
            dialect=_positional(conn), compile_kwargs={"render_postcompile": True}
        )
        order = tuple(compiled.positiontup or ())
        found = _STATEMENTS[key] = (stmt, compiled.string, order, dict(compiled.params))
    _, sql, order, defaults = found
    params = {**defaults, **values}
    result = conn.exec_driver_sql(sql, tuple(params[k] for k in order))
    rows = cast(list[Any], result.cursor.fetchall()) if result.cursor is not None else []
    result.close()
    return rows


def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """PostgreSQL ``COPY table (columns) FROM STDIN`` of ``rows`` in stored form (the
    encoder's: times as ISO text with offset, JSON as text, flags as bool), in the caller's
    transaction. COPY parses each value once, server-side, where executemany binds and
    plans a statement per row: the importer's PostgreSQL path (docs/exchange.md, "Speed").
    A unique or foreign-key violation is raised as SQLAlchemy's IntegrityError, as an
    INSERT's would be, so callers retry the same way."""
    if conn.dialect.name != "postgresql":
        raise ValueError(f"COPY is PostgreSQL's: not for {conn.dialect.name}")
    import psycopg  # the PostgreSQL driver (extra [postgres]); SQLite ledgers never get here

    driver = conn.connection.driver_connection
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    try:
        with driver.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            write = copy.write_row
            for row in rows:
                write(row)
    except psycopg.errors.IntegrityError as exc:
        raise IntegrityError(sql, None, exc) from exc


def next_ids(conn: Connection, table: str, count: int) -> list[int]:
    """PostgreSQL: ``count`` ids from ``table``'s id sequence, ascending (what as many
    INSERTs would take), for rows whose children are written before reading them back."""
    got = conn.exec_driver_sql(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
        (count,),
    )
    return sorted(int(i) for i in got.scalars())
