"""Read what an assessment needs from the ledger (never from Prefect's database).

SQLAlchemy core selects of just the needed columns, read through Arrow (ADBC, see
``columnar.py``) where the ledger is a file or a PostgreSQL database, else with the rows taken
raw from the Python driver (see ``frame``). Timestamps (SQLite: naive-UTC strings,
PostgreSQL: aware datetimes) become int64 microseconds since the epoch in one vectorised pass;
a missing moment becomes ``NEVER`` (the largest int64), so "happened before the cutoff" is a
plain comparison and "never" compares as "not yet".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    cast,
    func,
    not_,
    or_,
    select,
    union,
)
from sqlalchemy.sql.expression import Executable

from gridgov.assessments.columnar import (
    ArrowReader,
    arrow_errors,
    columns_of,
    joined,
    open_arrow,
)
from gridgov.assessments.period import Window
from gridgov.domain.enums import OPEN_STATUSES, Role
from gridgov.domain.officetime import to_us
from gridgov.ledger.models import Case, CaseEvent, CatalogItem, Department, TerritoryUnit

log = logging.getLogger(__name__)
T = TypeVar("T")
NEVER = np.iinfo(np.int64).max
# Events the counting rules look at. Reminders, notices, review starts and passes and closures
# stay in the database (closures are on the case row); fewer rows is most of the read time.
KINDS = (
    "created",
    "dispatched",
    "acknowledged",
    "returned",
    "rerouted",
    "arrived",
    "assisted",
    "extension_requested",
    "extension_granted",
    "extension_refused",
    "handled",
    "review_failed",
    "rated",
    "reopened",
    "cancelled",
)
ROLES = tuple(r.value for r in Role)
STAFF_ROLES = ("patroller", "community", "department")  # people assessed as staff
CASE_TIMES = ("opened_at", "handled_at", "closed_at", "handle_due")


@dataclass
class LedgerExtract:
    window: Window
    cases: pd.DataFrame  # one row per case alive during the month, indexed by case id
    events: pd.DataFrame  # KINDS events of those cases before the cutoff, by (case_id, seq)
    items: pd.DataFrame  # every catalogue item version in the ledger
    departments: pd.DataFrame
    territory: pd.DataFrame


Via = Literal["auto", "arrow", "driver"]
Kind = Literal["int", "cat", "time", "obj", "bool", "json"]
Spec = Sequence[tuple[str, Kind]]
# Where a read comes from: the SQLAlchemy connection (Python driver) or Arrow (ADBC).
Source = Connection | ArrowReader


def utc_us(values: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Raw ledger timestamps → int64 µs since the epoch (UTC), ``NEVER`` where missing."""
    values = np.asarray(values, dtype=object)
    if values.size == 0:
        return np.empty(0, dtype=np.int64)
    known = values[pd.notna(values)]
    if known.size and isinstance(known[0], int | np.integer):  # µs from ``time_column``
        out = np.full(values.size, NEVER, dtype=np.int64)
        mask = np.asarray(pd.notna(values))
        out[mask] = values[mask].astype(np.int64)
        return out
    if known.size and isinstance(known[0], str):  # SQLite: "2026-10-12 01:00:00.000000"
        parsed = pd.to_datetime(values, format="ISO8601", utc=True)
    else:  # aware datetimes
        parsed = pd.to_datetime(values, utc=True)
    out = np.asarray(parsed.as_unit("us").asi8, dtype=np.int64).copy()
    out[np.asarray(parsed.isna())] = NEVER
    return out


def time_column(col: Any, src: Source) -> ColumnElement[Any]:
    """A timestamp in the form cheapest to fetch: SQLite's stored text as is (pandas or Arrow
    parse it faster than SQLite's date functions); through Arrow PostgreSQL's timestamps as
    they are (binary), through psycopg as integer µs since the epoch (cheaper than datetime
    objects)."""
    if isinstance(src, ArrowReader) or src.dialect.name == "sqlite":
        return col  # type: ignore[no-any-return]
    return cast(func.round(func.extract("epoch", col) * 1_000_000), BigInteger)


def _column(values: np.ndarray[Any, np.dtype[np.object_]], kind: Kind) -> Any:
    if kind == "int":
        return np.array(values, dtype=np.int64)
    if kind == "time":
        return utc_us(values)
    if kind == "cat":
        return pd.Categorical(values)
    if kind == "bool":  # SQLite gives 0/1, PostgreSQL True/False; None stays None
        return np.array([None if v is None else bool(v) for v in values], dtype=object)
    if kind == "json":  # SQLite gives the text, psycopg the parsed value
        return np.array([json.loads(v) if isinstance(v, str) else v for v in values], dtype=object)
    return np.array(values, dtype=object)


def frame(conn: Source, stmt: Executable, spec: Spec, chunk: int = 100_000) -> pd.DataFrame:
    """Run ``stmt`` and build a frame of typed columns (see ``columns``), each kept as built
    (no copy into one block)."""
    return pd.DataFrame(columns(conn, stmt, spec, chunk), copy=False)


def columns(conn: Source, stmt: Executable, spec: Spec, chunk: int = 100_000) -> dict[str, Any]:
    """Run ``stmt`` and build typed columns: through Arrow when ``conn`` is an
    ``ArrowReader``, else from the driver's raw rows.

    SQLAlchemy still compiles the statement and converts the bound parameters (aware
    datetimes → the ledger's storage form); the rows are taken straight from the DBAPI cursor,
    skipping per-value result processing. Rows come in chunks, each turned into typed columns
    at once, so a month of millions of events never holds all its row tuples in memory.
    """
    if isinstance(conn, ArrowReader):
        return conn.columns(stmt, spec)  # type: ignore[arg-type]
    result = conn.execute(stmt)
    parts: list[list[Any]] = []
    try:
        cursor = result.cursor
        while cursor is not None and (rows := cursor.fetchmany(chunk)):
            table = np.empty((len(rows), len(spec)), dtype=object)
            table[:] = rows  # one C-level copy; columns are then cheap slices
            parts.append([_column(table[:, i], kind) for i, (_, kind) in enumerate(spec)])
    finally:
        result.close()
    if not parts:
        empty = np.empty(0, dtype=object)
        parts = [[_column(empty, kind) for _, kind in spec]]
    data = {}
    for i, (name, kind) in enumerate(spec):
        pieces = [p[i] for p in parts]
        if kind == "cat":
            data[name] = _union(pieces) if len(pieces) > 1 else pieces[0]
        else:
            data[name] = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    return data


def _union(pieces: list[pd.Categorical]) -> pd.Categorical:
    """Chunks' categoricals as one, categories sorted (as one ``pd.Categorical`` of all the
    values, and the Arrow read, give them). A chunk whose values are all missing has empty
    categories of dtype object, which ``union_categoricals`` refuses beside text ones ("dtype
    of categories must be the same": the driver read of a 200k-case month on PostgreSQL)."""
    dtypes = {p.categories.dtype for p in pieces if len(p.categories)}
    if len(dtypes) == 1:
        empty = pd.Index([], dtype=dtypes.pop())
        pieces = [
            p if len(p.categories) else pd.Categorical.from_codes(p.codes, categories=empty)
            for p in pieces
        ]
    return union_categoricals(pieces, sort_categories=True)


def alive_filter(window: Window) -> ColumnElement[bool]:
    """Cases that could count in the month: opened before the cutoff and not closed or
    cancelled before the month began. A superset of every rule in docs/assessment.md."""
    return and_(
        Case.opened_at < window.cutoff,
        or_(Case.closed_at.is_(None), Case.closed_at >= window.start),
        not_(and_(Case.status == "cancelled", Case.updated_at < window.start)),
    )


def alive(window: Window) -> ColumnElement[bool]:
    """The same cases as ``alive_filter`` on a consistent ledger, found through indexes:
    open cases by status, plus cases with a closure or cancellation event since the month
    began (a full scan of ``cases`` costs more than the rest of the read). The audit checks
    the consistency this relies on (closures match ``closed_at``: kpi_reconciles)."""
    still_open = select(Case.id).where(Case.status.in_(sorted(s.value for s in OPEN_STATUSES)))
    ended = select(CaseEvent.case_id).where(
        CaseEvent.kind.in_(("closed", "cancelled")), CaseEvent.at >= window.start
    )
    return and_(Case.id.in_(union(still_open, ended)), Case.opened_at < window.cutoff)


CASE_SPEC: list[tuple[str, Kind]] = [
    ("id", "int"),
    ("item_code", "cat"),
    ("item_version", "int"),
    ("tier", "int"),
    ("source", "cat"),
    ("community_code", "cat"),
    ("grid_code", "cat"),
    ("street_code", "cat"),
    *((t, "time") for t in CASE_TIMES),
]


def read_cases(conn: Source, window: Window) -> pd.DataFrame:
    cols = [
        time_column(getattr(Case, name), conn) if kind == "time" else getattr(Case, name)
        for name, kind in CASE_SPEC
    ]
    return frame(conn, select(*cols).where(alive(window)), CASE_SPEC).set_index("id", drop=False)


def _event_columns(conn: Source) -> list[Any]:
    """``EVENT_SPEC``'s columns. ``detail`` is the payload field the rules need: the target
    department of a dispatch or re-route, the department on a return, the rating of a
    callback. The holder is always read from the trail, never from ``cases.assignee``: a
    hand-edited assignee must not move blame (the audit's ``holder_matches_trail`` compares
    the two)."""
    pl = CaseEvent.payload
    kind = CaseEvent.kind
    detail = case(
        (kind.in_(("dispatched", "rerouted", "returned")), pl["department"].as_string()),
        (kind == "rated", pl["rating"].as_string()),
        else_=None,
    )
    # Kinds and roles as small integers: Python caches those, so no string objects per row;
    # actors only for people (the staff table), departments only where the holder is not
    # already known (an assisting department reports under its own code). Closures only
    # matter to the scan's choice of cases (``_read_scanning``).
    # Simple CASE (``CASE kind WHEN …``): the column is read once per row, not once per WHEN
    # (SQLite: ~10 % of the event read's CPU).
    kind_code = case(
        {**{k: i for i, k in enumerate(KINDS)}, "closed": CLOSED}, value=kind, else_=-1
    )
    role_code = case({r: i for i, r in enumerate(ROLES)}, value=CaseEvent.role, else_=-1)
    person = CaseEvent.role.in_(STAFF_ROLES)
    # History written by ``gridgov import`` (role system, actor ``import:<system>``): the source
    # system recorded no acknowledgement or arrival, so its dispatches open no response windows.
    # (Role ``system`` too: API keys are never system, whatever their names.)
    by_import = and_(CaseEvent.role == "system", CaseEvent.actor.like("import:%"))
    imported = case((by_import, 1), else_=0)
    return [
        CaseEvent.case_id,
        CaseEvent.seq,
        kind_code,
        time_column(CaseEvent.at, conn),
        case((person, CaseEvent.actor), else_=None),
        role_code,
        case((kind == "assisted", CaseEvent.department), else_=None),
        detail,
        imported,
    ]


EVENT_SPEC: Spec = [
    ("case_id", "int"),
    ("seq", "int"),
    ("kind", "int"),
    ("at", "time"),
    ("actor", "cat"),
    ("role", "int"),
    ("department", "cat"),
    ("detail", "cat"),
    ("imported", "int"),
]
CLOSED = len(KINDS)  # the kind code of a closure (read by the scan only, then dropped)


def _month_kinds(window: Window) -> ColumnElement[bool]:
    """``KINDS`` events before the cutoff; reports only from the month (reports before it
    matter to nothing: staff count the month's reports)."""
    kind = CaseEvent.kind
    return and_(
        or_(kind.in_(KINDS[1:]), and_(kind == "created", CaseEvent.at >= window.start)),
        CaseEvent.at < window.cutoff,
    )


def read_events(conn: Source, window: Window) -> pd.DataFrame:
    """The month's cases' events (``KINDS``; reports only from the month), by case and seq."""
    stmt = (
        select(*_event_columns(conn))
        .select_from(Case)
        .join(CaseEvent, CaseEvent.case_id == Case.id)
        .where(alive(window), _month_kinds(window))
    )  # no ORDER BY: sorting in numpy is cheaper than the database's temporary B-tree
    return _typed_events(frame(conn, stmt, EVENT_SPEC))


def _typed_events(df: pd.DataFrame, ordered: bool = False) -> pd.DataFrame:
    """Codes as categoricals, rows by (case_id, seq) (``ordered``: they already are)."""
    if not ordered:
        df = df.iloc[np.lexsort((df["seq"].to_numpy(), df["case_id"].to_numpy()))]
    df["kind"] = pd.Categorical.from_codes(df["kind"].to_numpy(), categories=list(KINDS))
    df["role"] = pd.Categorical.from_codes(df["role"].to_numpy(), categories=list(ROLES))
    df["imported"] = df["imported"].to_numpy().astype(bool)
    return df.reset_index(drop=True)


def month_size(conn: Source, window: Window) -> tuple[int, int]:
    """(about how many cases the month reads, the ledger's cases): open cases plus closures
    and cancellations since the month began, against the highest case id. Only covering
    indexes are read: cheap on any ledger."""
    open_now = scalar(
        conn, select(func.count()).where(Case.status.in_(sorted(s.value for s in OPEN_STATUSES)))
    )
    ended = scalar(
        conn,
        select(func.count()).where(
            CaseEvent.kind.in_(("closed", "cancelled")), CaseEvent.at >= window.start
        ),
    )
    return int(open_now or 0) + int(ended or 0), int(scalar(conn, select(func.max(Case.id))) or 0)


def scalar(conn: Source, stmt: Executable) -> Any:
    """One value, from either kind of read."""
    if isinstance(conn, ArrowReader):
        return conn.scalar(stmt)  # type: ignore[arg-type]
    return conn.execute(stmt).scalar()


def scans(conn: Source, window: Window) -> bool:
    """Whether to read a SQLite ledger by scanning ``case_events`` once (``_read_scanning``)
    rather than through the per-case index (``read_cases``/``read_events``).

    The index costs a random page read per event and finding the month's cases costs one per
    closure; a scan costs every row of the table once, in order. When the month's cases are
    a large share of the ledger (a month of a million due cases: 29 s finding them and 44 s
    reading their events through the indexes against 4.5 s and 20 s scanning, one run on the
    loaded machine), the scan wins. PostgreSQL's planner makes this choice itself (hash
    joins)."""
    if conn.dialect.name != "sqlite":
        return False
    return scans_size(month_size(conn, window))


def scans_size(size: tuple[int, int]) -> bool:
    """``scans`` from ``month_size``'s answer."""
    month, ledger = size
    return bool(ledger) and month >= SCAN_SHARE * ledger


SCAN_SHARE = 0.25  # of the ledger's cases; see ``scans``
# Below this many cases a month is read through the Python driver: starting the Arrow reader
# (a child process for SQLite) costs more than it saves on a small month.
ARROW_FROM_CASES = 20_000
# A scan of ``case_events`` can be split by event id between several reader processes on one
# snapshot (``columnar.open_arrow``). Measured on the shared 2-core machine (load 4-5, 1M
# October, back to back): 2 readers read in the same wall time as 1 (no core is free) for
# 1-2.5 s more CPU, and all processes peak at 2.1 GB against 1.8 GB; at 20k cases 2 readers
# are slower (2.0-2.8 s against 1.1-1.8 s). So one, until a quiet machine shows a gain
# (``benchmarks/assessment.py --scan-readers 2``): docs/assessment.md, "Performance".
SCAN_READERS = 1


def _read_scanning(conn: ArrowReader, window: Window) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``read_cases`` and ``read_events`` by one pass over each table: the cases opened
    before the cutoff, every event that counts or ends a case, then the cases of ``alive``
    (open now, or closed/cancelled since the month began) picked out in numpy. The events
    are read in ``conn.readers`` ranges of event id at once, beside the cases."""
    cols = [
        time_column(getattr(Case, name), conn) if kind == "time" else getattr(Case, name)
        for name, kind in CASE_SPEC
    ]
    is_open = case((Case.status.in_(sorted(s.value for s in OPEN_STATUSES)), 1), else_=0)
    kind = CaseEvent.kind
    ending = and_(kind.in_(("closed", "cancelled")), CaseEvent.at >= window.start)
    events_stmt = select(*_event_columns(conn)).where(or_(_month_kinds(window), ending))
    id_range = select(func.min(CaseEvent.id).label("lo"), func.max(CaseEvent.id).label("hi"))
    bounds = conn.table(id_range).to_pylist()[0]
    # NOT INDEXED: read the table in order, not row by row through (kind, at); event ids
    # (the rowid) still bound each range.
    case_spec: Spec = [*CASE_SPEC, ("open", "int")]
    stmts: list[tuple[Executable, str, list[str]]] = [
        (select(*cols, is_open).where(Case.opened_at < window.cutoff), "", _kinds(case_spec))
    ]
    for a, b in _ranges(bounds["lo"], bounds["hi"], conn.readers):
        part = events_stmt.where(CaseEvent.id >= a, CaseEvent.id < b)
        stmts.append((part, "case_events NOT INDEXED", _kinds(EVENT_SPEC)))
    answers = conn.tables(stmts)  # type: ignore[arg-type]
    # copy=False: the columns stay apart (pandas would copy them into one block first).
    cases = pd.DataFrame(columns_of(next(answers), case_spec), copy=False)
    parts = joined(list(answers))
    events = pd.DataFrame(columns_of(parts, EVENT_SPEC), copy=False)
    del parts
    codes = events["kind"].to_numpy()
    at = events["at"].to_numpy()
    ended = events["case_id"].to_numpy()[
        ((codes == CLOSED) | (codes == KINDS.index("cancelled"))) & (at >= to_us(window.start))
    ]
    keep = (cases["open"].to_numpy() == 1) | np.isin(cases["id"].to_numpy(), ended)
    cases = cases[keep].drop(columns="open")
    cases = _tidy(cases.iloc[np.argsort(cases["id"].to_numpy(), kind="stable")])  # by id, as
    # the index read gives them
    ids = np.sort(cases["id"].to_numpy())
    cid = events["case_id"].to_numpy()
    slot = np.minimum(np.searchsorted(ids, cid), max(len(ids) - 1, 0))
    mine = (ids[slot] == cid) if len(ids) else np.zeros(len(cid), dtype=bool)
    counted = np.flatnonzero(mine & (codes != CLOSED) & (at < to_us(window.cutoff)))
    # Picked and put in (case_id, seq) order by one take: a copy of ~4 M rows fewer.
    rows = counted[np.lexsort((events["seq"].to_numpy()[counted], cid[counted]))]
    events = _tidy(events.iloc[rows])
    return cases.set_index("id", drop=False), _typed_events(events, ordered=True)


def _kinds(spec: Spec) -> list[str]:
    return [kind for _, kind in spec]


def _ranges(lo: int | None, hi: int | None, parts: int) -> list[tuple[int, int]]:
    """[lo, hi] cut into ``parts`` half-open ranges, the last 2/3 the width of the others:
    it goes to the reader that also reads the cases (``ArrowReader.tables`` deals statements
    round the readers), about a fifth of the read on the 1M benchmark month."""
    if lo is None or hi is None:
        return [(0, 1)]  # no events: one empty read keeps the columns' shape
    widths = np.array([1.0] * (parts - 1) + [2 / 3 if parts > 1 else 1.0])
    edges = lo + np.r_[0, np.cumsum(widths)] / widths.sum() * (hi + 1 - lo)
    edges = np.r_[lo, np.round(edges[1:-1]).astype(np.int64), hi + 1]
    return [(int(a), int(b)) for a, b in pairwise(edges.tolist())]


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """After picking rows: categories only of the values kept (as a read of just those rows
    gives them) and a fresh index."""
    df = df.reset_index(drop=True)
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = _used(df[c].array)
    return df


def _used(cat: pd.Categorical) -> pd.Categorical:
    """``remove_unused_categories`` by a bincount of the codes: pandas finds the used codes
    with ``np.unique``, which hashes in numpy 2.4 (0.75 s of the 1M read for 8 columns)."""
    codes = np.asarray(cat.codes, dtype=np.int64)
    used = np.bincount(codes[codes >= 0], minlength=len(cat.categories)) > 0
    remap = np.append(np.cumsum(used) - 1, -1)  # code -1 (missing) takes the last: -1
    kept = remap[codes]
    return pd.Categorical.from_codes(kept, categories=cat.categories[used], ordered=cat.ordered)


def read_reference(conn: Source) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    raw = columns(
        conn,
        select(
            CatalogItem.code,
            CatalogItem.version,
            CatalogItem.tier,
            CatalogItem.lead_department,
            CatalogItem.valid_from,
            CatalogItem.valid_to,
            CatalogItem.data,
        ),
        [
            ("code", "obj"),
            ("version", "int"),
            ("tier", "int"),
            ("lead_department", "obj"),
            ("valid_from", "obj"),
            ("valid_to", "obj"),
            ("data", "json"),
        ],
    )
    items_df = pd.DataFrame(
        [
            {
                "code": code,
                "version": version,
                "tier": tier,
                "lead_department": lead,
                "valid_from": _date(valid_from),
                "valid_to": _date(valid_to),
                "deadlines": (data or {}).get("deadlines", {}),
                "assisting": tuple((data or {}).get("assisting_departments", ())),
            }
            for code, version, tier, lead, valid_from, valid_to, data in zip(
                *raw.values(), strict=True
            )
        ],
        columns=[
            "code",
            "version",
            "tier",
            "lead_department",
            "valid_from",
            "valid_to",
            "deadlines",
            "assisting",
        ],
    )
    depts = frame(
        conn,
        select(Department.code, Department.name_zh, Department.name_en),
        [("code", "obj"), ("name_zh", "obj"), ("name_en", "obj")],
    )
    territory = frame(
        conn,
        select(
            TerritoryUnit.code,
            TerritoryUnit.kind,
            TerritoryUnit.name_zh,
            TerritoryUnit.name_en,
            TerritoryUnit.parent_code,
        ),
        [(c, "obj") for c in ("code", "kind", "name_zh", "name_en", "parent_code")],
    )
    return items_df, depts, territory


@contextmanager
def snapshot(engine: Engine, via: Via = "arrow", readers: int = 1) -> Iterator[Source]:
    """One read transaction (one snapshot; REPEATABLE READ on PostgreSQL): through Arrow
    where ADBC can open the ledger (``readers`` processes on SQLite), else through the
    SQLAlchemy connection."""
    with open_arrow(engine, readers) if via == "arrow" else _no_arrow() as arrow:
        if arrow is not None:
            yield arrow
            return
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # one snapshot for all statements
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextmanager
def _no_arrow() -> Iterator[None]:
    yield None


def read_ledger(engine: Engine, window: Window, *, via: Via = "auto") -> LedgerExtract:
    """One consistent read (one snapshot) of everything the month needs: through Arrow for a
    month of ``ARROW_FROM_CASES`` cases or more, else through the Python driver (``via``
    forces one: the benchmark's same-run comparison; tests check both give the same frames).
    Should Arrow refuse a result (e.g. a column holding values of two types), the read is
    done again through the driver, and the log says so."""
    return read_either(engine, window, via, _read_ledger, "the ledger")


Size = tuple[int, int]  # ``month_size``'s answer


def read_either(
    engine: Engine,
    window: Window,
    via: Via,
    read: Callable[[Engine, Window, Via, Size | None], T],
    what: str,
) -> T:
    """The one rule of how a month is read: ``via`` "auto" takes Arrow for a month of
    ``ARROW_FROM_CASES`` cases or more, the driver otherwise; a read Arrow refuses is done
    again through the driver, and the log says so. ``read`` gets the month's size when it
    was counted here (counted once: on a big ledger a count costs about a second)."""
    size = None
    if via == "auto":
        with engine.connect() as conn:
            size = month_size(conn, window)
        via = "arrow" if size[0] >= ARROW_FROM_CASES else "driver"
    if via == "arrow":
        try:
            return read(engine, window, "arrow", size)
        except arrow_errors() as e:
            log.warning("reading %s through Arrow failed (%s); using the driver", what, e)
    return read(engine, window, "driver", size)


def _read_ledger(engine: Engine, window: Window, via: Via, size: Size | None) -> LedgerExtract:
    # Whether to scan is decided before the read transaction: a scan is read by
    # ``SCAN_READERS`` processes, which must all start on one snapshot.
    scan = via == "arrow" and engine.dialect.name == "sqlite"
    if scan:
        if size is None:
            with engine.connect() as c:
                size = month_size(c, window)
        scan = scans_size(size)
    with snapshot(engine, via, SCAN_READERS if scan else 1) as conn:
        if isinstance(conn, ArrowReader) and scan:
            cases, events = _read_scanning(conn, window)
        else:
            cases = read_cases(conn, window)
            events = read_events(conn, window)
        items, depts, territory = read_reference(conn)
    return LedgerExtract(window, cases, events, items, depts, territory)


def _date(v: Any) -> date | None:
    """A catalogue validity date: SQLite stores text, psycopg and ADBC give dates."""
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])
