"""Read side of the gateway: filtered, paginated case lists and the supervision board.

Lists page by keyset (``id`` descending), so a page costs the same deep in the list as at
its top and a case created meanwhile never shifts or repeats a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, String, cast, or_, select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.api.access import visible_clause
from gridgov.api.keystore import Principal
from gridgov.api.schemas import Board, BoardRow
from gridgov.boards.query import read_board
from gridgov.domain.calendar import WorkingCalendar
from gridgov.domain.errors import InvalidInput
from gridgov.ledger import timers
from gridgov.ledger.models import Case
from gridgov.ledger.records import CaseRecord


@dataclass(frozen=True)
class CaseFilter:
    department: str | None = None  # assigned to, or assisting on
    community: str | None = None
    street: str | None = None
    grid: str | None = None
    item: str | None = None
    tier: int | None = None
    status: tuple[str, ...] = ()
    overdue: bool | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    limit: int = 50
    cursor: str | None = None
    extra: tuple[ColumnElement[bool], ...] = field(default=())
    attributes: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, all must match

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = list(self.extra)
        if self.department:
            out.append(
                or_(
                    Case.assignee == self.department,
                    cast(Case.assisting, String).like(f'%"{self.department}"%'),
                )
            )
        for col, value in (
            (Case.community_code, self.community),
            (Case.street_code, self.street),
            (Case.grid_code, self.grid),
            (Case.item_code, self.item),
            (Case.tier, self.tier),
            (Case.overdue, self.overdue),
        ):
            if value is not None:
                out.append(col == value)
        for name, value in self.attributes:
            out.append(Case.attributes[name].as_string() == value)
        if self.status:
            out.append(Case.status.in_(self.status))
        if self.opened_from is not None:
            out.append(Case.opened_at >= self.opened_from)
        if self.opened_to is not None:
            out.append(Case.opened_at < self.opened_to)
        if self.cursor is not None:
            out.append(Case.id < decode_cursor(self.cursor))
        return out


# A column name becomes a JSON path (SQLite json_extract): no quotes, brackets or backslashes.
ATTRIBUTE_NAME = re.compile(r"[\w .:/-]{1,100}")


def attribute_filter(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of the ``attr`` query parameter."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not ATTRIBUTE_NAME.fullmatch(name):
        raise InvalidInput(
            f"attr {text[:60]!r}: use NAME=VALUE, NAME of letters, digits, space, _ . : / -",
            field="attr",
        )
    return name, value


def encode_cursor(case_id: int) -> str:
    return f"c{case_id}"


CURSOR = re.compile(r"c[0-9]{1,10}")  # ASCII digits only: str.isdigit() also takes '²', '①'
MAX_ID = 2**31 - 1  # ``cases.id`` is a 32-bit INTEGER on PostgreSQL


def decode_cursor(cursor: str) -> int:
    if CURSOR.fullmatch(cursor) and 0 < int(cursor[1:]) <= MAX_ID:
        return int(cursor[1:])
    raise InvalidInput(f"cursor {cursor[:40]!r} was not issued by this API", field="cursor")


def list_cases(
    factory: sessionmaker[Session], p: Principal, flt: CaseFilter
) -> tuple[list[CaseRecord], str | None]:
    if flt.opened_from and flt.opened_to and flt.opened_to <= flt.opened_from:
        raise InvalidInput("opened_to must be after opened_from", field="opened_to")
    q = (
        select(Case)
        .where(visible_clause(p), *flt.clauses())
        .order_by(Case.id.desc())
        .limit(flt.limit + 1)
    )
    with factory() as s:
        rows = list(s.scalars(q))
        timers.load_all(s, rows)  # the ladder as the sweep has taken it
    more = len(rows) > flt.limit
    rows = rows[: flt.limit]
    return [CaseRecord.of(r) for r in rows], encode_cursor(rows[-1].id) if more else None


def board(
    factory: sessionmaker[Session],
    p: Principal,
    now: datetime,
    flt: CaseFilter,
    level: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> Board:
    """Open cases on the ladder, past due, or due but not yet swept; most urgent first (the
    rule lives in gridgov.boards.query)."""
    with factory() as s:
        snap = read_board(
            s,
            calendar or WorkingCalendar(),
            now,
            where=(visible_clause(p), *flt.clauses()),
            level=level,
            limit=flt.limit,
        )
    return Board(
        as_of=now,
        counts=snap.counts,
        by_assignee=snap.by_assignee,
        rows=[BoardRow.model_validate(e, from_attributes=True) for e in snap.entries],
    )
