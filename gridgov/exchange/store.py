"""The ledger side of an import: look cases up by source id, insert and update in bulk.

Inserts go through the driver's executemany with values already in the column's stored form,
made by the ledger's one encoder (``ledger.rows.Encoder``), because SQLAlchemy's per-value type
processing would cost more than the insert itself. Every value is validated before it gets here.
On SQLite new cases go through a staging table (``stage``, ``insert_from_stage``): binding
into a table without indexes and copying by SQL costs less than binding into ``cases``, and
their events are computed from the staged rows by SQL (steps.trail_sql) rather than bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, func, inspect, select
from sqlalchemy.engine import Row

from gridgov.domain.errors import InvalidInput
from gridgov.domain.worktime import to_us
from gridgov.exchange.prepare import NONE
from gridgov.ledger.models import Case, CaseEvent, CatalogItem, Department, TerritoryUnit
from gridgov.ledger.rows import Encoder, literal

I64 = npt.NDArray[np.int64]
LOOKUP_BATCH = 5_000  # ids per IN (…) list: well under every driver's parameter limit
# SQLite: new cases are staged in a temporary table (their case columns, and what their
# trails need beyond them: steps.stage_rows) and copied into the ledger by SQL.
STAGE = "temp.import_stage"


@dataclass(frozen=True)
class Known:
    """What a re-import needs first: the case and the hash its last import recorded."""

    id: int
    status: str
    row_version: int
    hash: str | None


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _in(conn: Connection, sql: str, values: Sequence[Any], *args: Any) -> list[Any]:
    """``sql`` ending in ``IN`` run per batch of ``values`` (placeholders rendered here:
    SQLAlchemy's expanding parameters cost more than the lookup itself). PostgreSQL gets
    the batch as one array, ``= ANY(%s)``: psycopg parses a query's placeholders in Python,
    and 5,000 of them cost more than the lookup (1.8 s of a 40,000-row import, profiled)."""
    mark = _mark(conn)
    out: list[Any] = []
    if conn.dialect.name == "postgresql":
        head = sql.removesuffix("IN")
        for i in range(0, len(values), LOOKUP_BATCH):
            batch = list(values[i : i + LOOKUP_BATCH])
            out += conn.exec_driver_sql(f"{head}= ANY(%s)", (*args, batch)).all()
        return out
    for i in range(0, len(values), LOOKUP_BATCH):
        batch = list(values[i : i + LOOKUP_BATCH])
        text = f"{sql} ({', '.join([mark] * len(batch))})"
        out += conn.exec_driver_sql(text, (*args, *batch)).all()
    return out


def known_cases(conn: Connection, system: str, ids: Sequence[str]) -> dict[str, Known]:
    rows = _in(
        conn,
        "SELECT source_id, id, status, row_version FROM cases "
        f"WHERE source_system = {_mark(conn)} AND source_id IN",
        ids,
        system,
    )
    found = {str(sid): (int(cid), str(status), int(rv)) for sid, cid, status, rv in rows}
    hashes = last_hashes(conn, [v[0] for v in found.values()])
    return {
        sid: Known(cid, status, rv, hashes.get(cid)) for sid, (cid, status, rv) in found.items()
    }


def last_hashes(conn: Connection, case_ids: Sequence[int]) -> dict[int, str]:
    """Per case, the ``source_hash`` in the payload of its latest event that has one."""
    out: dict[int, tuple[int, str]] = {}
    h = CaseEvent.payload["source_hash"].as_string()
    for i in range(0, len(case_ids), LOOKUP_BATCH):
        stmt = select(CaseEvent.case_id, CaseEvent.seq, h).where(
            CaseEvent.case_id.in_(case_ids[i : i + LOOKUP_BATCH]), h.is_not(None)
        )
        for cid, seq, value in conn.execute(stmt):
            if cid not in out or seq > out[cid][0]:
                out[cid] = (seq, value)
    return {cid: v for cid, (_, v) in out.items()}


DETAIL_COLUMNS = (
    Case.id,
    Case.case_no,
    Case.status,
    Case.tier,
    Case.item_code,
    Case.item_version,
    Case.community_code,
    Case.grid_code,
    Case.assignee,
    Case.opened_at,
    Case.handled_at,
    Case.closed_at,
    Case.handle_due,
    Case.deadline_source,
    Case.source,
    Case.reporter,
    Case.description,
    Case.building,
    Case.lat,
    Case.lon,
    Case.row_version,
)


def case_details(conn: Connection, case_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Stored fields and trail position of cases whose source row changed (few)."""
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(case_ids), LOOKUP_BATCH):
        batch = case_ids[i : i + LOOKUP_BATCH]
        for row in conn.execute(select(*DETAIL_COLUMNS).where(Case.id.in_(batch))):
            out[row.id] = _detail(row)
        tail = (
            select(CaseEvent.case_id, func.max(CaseEvent.seq), func.max(CaseEvent.at))
            .where(CaseEvent.case_id.in_(batch))
            .group_by(CaseEvent.case_id)
        )
        for cid, seq, at in conn.execute(tail):
            out[cid]["last_seq"], out[cid]["last_at"] = int(seq), to_us(at)
    return out


def _detail(row: Row[Any] | Any) -> dict[str, Any]:
    d = dict(row._mapping)
    for t in ("opened_at", "handled_at", "closed_at", "handle_due"):
        d[t] = NONE if d[t] is None else to_us(d[t])
    d["last_seq"], d["last_at"] = 0, NONE
    return d


def insert(
    conn: Connection,
    render: Encoder,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """executemany of ``rows`` (values of ``columns``); ``constants``: column → the value
    every row has (in stored form), written as a literal."""
    batch = list(rows)
    if batch:
        conn.exec_driver_sql(render.insert_sql(table, columns, constants), batch)


def insert_columns(
    conn: Connection,
    render: Encoder,
    table: str,
    values: Mapping[str, list[Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """executemany of rows given as columns (``values``: column → one value per row);
    ``constants``: column → the value every row has (in stored form), written as a literal.

    On SQLite a ``None`` is bound as "" into ``NULLIF(?, '')`` in a column that holds no ""
    otherwise: the driver binds None through its adaptation protocol, several times slower
    than a string, and a case row has a dozen of them."""
    columns = list(values)
    data = [values[c] for c in columns]
    if not data or not data[0]:
        return
    marks: list[str] | None = None
    if render.sqlite:
        marks = [render.mark] * len(columns)
        for i, col in enumerate(data):
            if None in col and "" not in col:
                data[i] = ["" if v is None else v for v in col]
                marks[i] = "NULLIF(?, '')"
    sql = render.insert_sql(table, columns, constants, marks)
    conn.exec_driver_sql(sql, list(zip(*data, strict=True)))


def max_case_id(conn: Connection) -> int:
    return int(conn.scalar(select(func.coalesce(func.max(Case.id), 0))) or 0)


def case_ids(conn: Connection, system: str, ids: Sequence[str], above: int) -> dict[str, int]:
    """Ids of the cases just inserted: every new id is above ``above`` (the largest id
    before the insert), so a range scan of the primary key finds them."""
    wanted = set(ids)
    stmt = select(Case.source_id, Case.id).where(Case.id > above, Case.source_system == system)
    return {str(sid): int(cid) for sid, cid in conn.execute(stmt) if sid in wanted}


def missing_references(engine: Engine, codes: dict[str, set[Any]]) -> list[str]:
    """References the import will write that the ledger's own tables lack (run ``init``)."""
    if not inspect(engine).has_table(CatalogItem.__tablename__):
        where = engine.url.render_as_string(hide_password=True)
        raise InvalidInput(
            f"the ledger {where} has no tables yet: run `gridgov init` first", field="ledger"
        )
    with engine.connect() as conn:
        have: dict[str, set[Any]] = {
            "item": {
                (c, v) for c, v in conn.execute(select(CatalogItem.code, CatalogItem.version))
            },
            "department": set(conn.scalars(select(Department.code))),
            "territory": set(conn.scalars(select(TerritoryUnit.code))),
        }
    return [f"{kind} {code}" for kind, want in codes.items() for code in sorted(want - have[kind])]


def stage(conn: Connection, render: Encoder, values: Mapping[str, list[Any]]) -> None:
    """Replace the staged rows (SQLite: a temporary table of this connection, made on first
    use, without types, so a value keeps the form it was bound in until it is copied):
    ``values``: column → one value per row, staged at rowid 1…n in this order."""
    columns = ", ".join(values)
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE.split('.')[1]} ({columns})")
    conn.exec_driver_sql(f"DELETE FROM {STAGE}")  # empty: rowids start at 1 again
    insert_columns(conn, render, STAGE, values)


def insert_from_stage(
    conn: Connection, table: str, columns: Sequence[str], constants: Mapping[str, Any]
) -> None:
    """Copy the staged rows' ``columns`` into ``table`` in staged order, with ``constants``
    (column → the value every row has, in stored form) as literals."""
    names = ", ".join([*columns, *constants])
    exprs = ", ".join([*columns, *(literal(v) for v in constants.values())])
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({names}) SELECT {exprs} FROM {STAGE} ORDER BY rowid"
    )


@contextmanager
def bulk_connection(engine: Engine, *, checked: bool) -> Iterator[Connection]:
    """A connection for bulk writes. On SQLite, with ``checked`` (every reference was
    verified against the ledger's tables before), foreign-key checks are left to us for the
    import's own connection (they halve insert speed) and the page cache is enlarged; both
    are restored before the connection goes back to the pool."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")  # the staging table
            if checked:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            yield conn
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")
                conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
                conn.commit()
