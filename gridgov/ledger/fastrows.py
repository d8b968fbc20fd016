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

from sqlalchemy import Connection, Table, bindparam, insert, update
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
        SET value, e.g. ``coalesce(:v, col)``. ``times``: a memo of converted timestamps to
        share between statements that write the same moments."""
        self.conn = conn
        names = list(columns) + list(where)
        wrap = wrap or {}
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
        dialect = conn.dialect
        if dialect.paramstyle in ("pyformat", "named"):
            # Positional %s placeholders: tuples adapt faster than one dict per row.
            dialect = cast(Any, type(dialect))(paramstyle="format")
        compiled = stmt.compile(dialect=dialect)
        # No RETURNING of generated keys: nobody reads them and it slows executemany down.
        self.sql = compiled.string.split(" RETURNING ")[0]
        order = compiled.positiontup
        # Parameters as the driver wants them: positional (qmark) in SQL order, else named.
        self._index: list[int] | None = None
        self._keys: list[str] | None = None
        if order is None:
            self._keys = keys
        elif [keys.index(k) for k in order] != list(range(len(keys))):
            self._index = [keys.index(k) for k in order]
        self._names = names
        self._where = list(where)
        self._table = conn.dialect.identifier_preparer.format_table(table)
        enc = Encoder.of(conn)
        self._procs = {n: _Memo(p) for n in names if (p := enc.processor(table.c[n].type, conn))}
        if times is not None:  # one memo for every timestamp column, shared with others
            for n, memo in self._procs.items():
                if isinstance(table.c[n].type, UTCDateTime):
                    memo.memo = times
        self._conv = [(i, self._procs[n]) for i, n in enumerate(names) if n in self._procs]
        self._conv = [(i, p) for i, p in self._conv if names[i] not in raw]

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
