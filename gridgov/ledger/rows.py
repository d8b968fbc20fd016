"""The one row specification of the ledger's bulk writers (docs/ledger.md): column order taken
from the SQLAlchemy tables, builders for case, event and notice rows, one JSON serializer and
one value encoder; and the ``timers`` row a case's clock fields imply.

The case book writes through the ORM; the bulk writers — the 督办 sweep
(``ledger/supervision``), machine-event intake (``intake/bulk``) and the importer
(``exchange/``) — hand plain tuples to the driver. They all build those tuples here, so a
column added to ``cases`` (with a default in the model) reaches every writer through
:data:`CASE_DEFAULTS` and the tables' own column lists; an event or notice column added to the
model fails the import-time checks below until its builder fills it.

Values are in *stored form* (what the driver binds): :class:`Encoder` makes it, per dialect —
SQLite's ``YYYY-MM-DD HH:MM:SS.ffffff`` naive-UTC text exactly as ``UTCDateTime`` writes it,
0/1 flags, JSON text from :func:`json_text` — scalar or vectorised over numpy microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Table
from sqlalchemy.sql.type_api import TypeEngine

from gridgov.ledger.models import Case, CaseEvent, Notification, Timer
from gridgov.ledger.types import UTCDateTime

I64 = npt.NDArray[np.int64]
NO_TIME = np.iinfo(np.int64).max  # a missing moment in microsecond vectors (exchange.prepare.NONE)
Processor = Callable[[Any], Any]

CASES = cast(Table, Case.__table__)
EVENTS = cast(Table, CaseEvent.__table__)
NOTICES = cast(Table, Notification.__table__)
TIMERS = cast(Table, Timer.__table__)


def columns(table: Table, *, without: Sequence[str] = ()) -> tuple[str, ...]:
    """The table's column names in its own (CREATE TABLE) order."""
    return tuple(c.name for c in table.columns if c.name not in without)


CASE_COLUMNS = columns(CASES)
# Events and notices get their ids from the database.
EVENT_COLUMNS = columns(EVENTS, without=("id",))
NOTICE_COLUMNS = columns(NOTICES, without=("id",))
TIMER_COLUMNS = columns(TIMERS)
# A case's timer is these of its own columns (``ledger.timers`` derives it in SQL with them,
# :func:`timer_of_case` in Python): the running limit, the ladder steps taken on it, and when
# the next one falls due — ``clocks.set_clock`` sets all three, for every writer.
TIMER_FROM_CASE = ("id", "clock_kind", "ladder_done", "next_sweep_at")


def _defaults(table: Table) -> dict[str, Any]:
    """Each column's model default (``mapped_column(default=…)``), evaluated; else None."""
    out: dict[str, Any] = {}
    for c in table.columns:
        d = c.default
        if d is None:
            out[c.name] = None
        elif getattr(d, "is_scalar", False):
            out[c.name] = d.arg  # type: ignore[attr-defined]
        elif getattr(d, "is_callable", False):
            out[c.name] = d.arg(None)  # type: ignore[attr-defined]  # list, dict
        else:  # pragma: no cover - no SQL-expression defaults in the ledger
            raise TypeError(f"{table.name}.{c.name}: unsupported default {d!r}")
    return out


# A new case's values before its writer fills them: the model's defaults. JSON columns hold
# their (Python) default here; writers that bind stored form encode them (Encoder.row).
CASE_DEFAULTS: Mapping[str, Any] = _defaults(CASES)


# json.dumps builds a C encoder on every call; bulk writers serialise a payload per row, so
# one is built once (2x cheaper per call, measured). No circular-reference check: bulk payloads
# are plain trees of str/int/float/bool/None/list/dict.
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (
    _C_ENCODER(
        None,
        json.JSONEncoder().default,
        json.encoder.encode_basestring_ascii,
        None,
        ": ",
        ", ",
        False,
        False,
        True,
    )
    if _C_ENCODER is not None
    else None
)


def json_text(value: Any) -> str:
    """The one JSON serializer of bulk rows: exactly what SQLAlchemy's JSON type stores
    (``json.dumps`` with its defaults), so bulk and ORM rows read back equal."""
    if _ENCODE is None:  # pragma: no cover - CPython has the C encoder
        return json.dumps(value)
    return "".join(_ENCODE(value, 0))


_CASE_INDEX = {c: i for i, c in enumerate(CASE_COLUMNS)}
_CASE_DEFAULT_ROW = [CASE_DEFAULTS[c] for c in CASE_COLUMNS]


def case_row(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """A ``cases`` row in :data:`CASE_COLUMNS` order: ``values`` over the model defaults.
    A name that is not a column is an error (a typo would otherwise write a default)."""
    row = _CASE_DEFAULT_ROW.copy()  # per row of a bulk write: positions, not a dict merge
    index = _CASE_INDEX
    try:
        for name, value in values.items():
            row[index[name]] = value
    except KeyError:
        unknown = sorted(set(values) - index.keys())
        raise KeyError(f"not columns of cases: {unknown}") from None
    return tuple(row)


def event_row(
    case_id: int,
    seq: int,
    kind: str,
    actor: str,
    role: str,
    department: str | None,
    community: str | None,
    at: Any,
    recorded_at: Any,
    from_status: str | None,
    to_status: str,
    payload: Any,
    key: str,
) -> tuple[Any, ...]:
    """A ``case_events`` row in :data:`EVENT_COLUMNS` order (checked below)."""
    return (
        case_id,
        seq,
        kind,
        actor,
        role,
        department,
        community,
        at,
        recorded_at,
        from_status,
        to_status,
        payload,
        key,
    )


def notice_row(
    case_id: int | None, kind: str, recipient: str, body: Any, key: str, created_at: Any
) -> tuple[Any, ...]:
    """A pending outbox row in :data:`NOTICE_COLUMNS` order (checked below)."""
    return (case_id, kind, recipient, body, "pending", 0, None, key, created_at, None, None)


def timer_row(case_id: int, limit_kind: str | None, step: int, due: Any) -> tuple[Any, ...] | None:
    """A ``timers`` row in :data:`TIMER_COLUMNS` order, or None: no ladder step is ahead (no
    limit runs, or its ladder is climbed), so the case has no timer."""
    if due is None:
        return None
    assert limit_kind is not None, "a due ladder step needs the limit it belongs to"
    return (case_id, limit_kind, step, due)


def timer_of_case(values: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The timer row a case's own values (column → value, stored or Python form) imply."""
    case_id, kind, step, due = (values[c] for c in TIMER_FROM_CASE)
    return timer_row(case_id, kind, step, due)


_TIMER_AT = tuple(CASE_COLUMNS.index(c) for c in TIMER_FROM_CASE)


def timer_of_case_row(row: Sequence[Any]) -> tuple[Any, ...] | None:
    """The same for a :func:`case_row` tuple (bulk writers: positions, no dict per row)."""
    case_id, kind, step, due = (row[i] for i in _TIMER_AT)
    return timer_row(case_id, kind, step, due)


# The builders' argument order *is* the table order: if a migration adds or moves a column
# these fail at import, pointing here, instead of a writer silently shifting values.
assert event_row.__code__.co_varnames[: len(EVENT_COLUMNS) - 1] == EVENT_COLUMNS[:-1]
assert EVENT_COLUMNS[-1] == "idempotency_key"
assert NOTICE_COLUMNS == (
    "case_id",
    "kind",
    "recipient",
    "body",
    "status",
    "attempts",
    "last_error",
    "idempotency_key",
    "created_at",
    "sent_at",
    "claimed_until",  # a deliverer's lease (notify.claim)
), NOTICE_COLUMNS
assert timer_row.__code__.co_varnames[: len(TIMER_COLUMNS)] == TIMER_COLUMNS, TIMER_COLUMNS


def sqlite_time(value: datetime) -> str:
    """What UTCDateTime + SQLite's DATETIME store: naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:-6]  # drop "+00:00"
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the ledger stores aware times only")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class Encoder:
    """Values in the form the driver stores for our column types, for one dialect: the one
    encoder of every bulk writer (scalar, per column type, and vectorised)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.sqlite = dialect == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    @classmethod
    def of(cls, conn: Connection) -> Encoder:
        return cls(conn.dialect.name)

    # -- scalars
    def time(self, value: datetime | None) -> Any:
        """A moment as bound: SQLite text; PostgreSQL the aware datetime (psycopg adapts)."""
        if value is None:
            return None
        return sqlite_time(value) if self.sqlite else value.astimezone(UTC)

    def flag(self, value: bool | None) -> Any:
        return value if value is None or not self.sqlite else int(value)

    def json(self, value: Any) -> str:
        return json_text(value)

    def processor(self, col_type: TypeEngine[Any], conn: Connection) -> Processor | None:
        """The conversion a column's type needs (None: the driver takes the value as is)."""
        if isinstance(col_type, UTCDateTime) and self.sqlite:
            return sqlite_time  # the same text as SQLAlchemy's path, 4x cheaper
        dialect = conn.dialect
        return col_type.dialect_impl(dialect).bind_processor(dialect)

    # -- vectors (the importer works on numpy columns of microseconds since the epoch)
    def times(self, us: I64) -> list[str | None]:
        missing = us == NO_TIME
        a = np.datetime_as_string(np.where(missing, 0, us).astype("datetime64[us]"), unit="us")
        if self.sqlite:  # "YYYY-MM-DD HH:MM:SS.ffffff", as SQLAlchemy writes SQLite DATETIME
            a.view(np.uint32).reshape(len(a), -1)[:, 10] = ord(" ")
            out: list[str | None] = a.tolist()
        else:
            out = [s + "+00:00" for s in a.tolist()]
        for i in np.flatnonzero(missing).tolist():
            out[i] = None
        return out

    def flags(self, values: npt.NDArray[np.bool_]) -> list[Any]:
        return [int(v) for v in values.tolist()] if self.sqlite else values.tolist()

    # -- statements
    def insert_sql(
        self,
        table: str,
        names: Sequence[str],
        constants: Mapping[str, Any] | None = None,
        marks: Sequence[str] | None = None,
    ) -> str:
        """``INSERT`` binding ``names`` per row (``marks``: the placeholder expression of
        each); ``constants`` (the same in every row) are written into the statement as
        literals: binding them row by row would cost more."""
        constants = constants or {}
        bound = list(marks) if marks is not None else [self.mark] * len(names)
        exprs = bound + [literal(v) for v in constants.values()]
        return (
            f"INSERT INTO {table} ({', '.join([*names, *constants])}) VALUES ({', '.join(exprs)})"
        )


def literal(value: Any) -> str:
    """An SQL literal of a constant value (None, bool, int or str)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {value!r}")
