"""Which cases are on the 督办 board, read from the ledger: the one home of that rule.

A case is on the board while it is open and on the supervision ladder (reminded = at risk,
supervised, escalated), flagged overdue, or past its clock's due time but not yet swept.
The gateway's ``GET /v1/board``, the ``/board`` page, ``gridgov board`` and the board
artifacts a sweep publishes all read through :func:`read_board`; callers add their own
visibility clauses (an API key's scope) as ``where``. See docs/boards.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from gridgov.boards.labels import holiday_note_zh
from gridgov.domain.calendar import WorkingCalendar
from gridgov.domain.enums import OPEN_STATUSES, CaseStatus, Tier, TimeUnit
from gridgov.domain.routing import CaseFacts, waiting_for
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.models import Case
from gridgov.ledger.provisional import provisional_counts
from gridgov.ledger.timers import LEVEL, NEXT_STEP_AT  # the ladder position is the timer's

LEVELS = ("reminded", "supervised", "escalated", "due")  # "due": past due, not yet swept
OPEN_VALUES = tuple(sorted(s.value for s in OPEN_STATUSES))


def on_ladder(now: datetime) -> ColumnElement[bool]:
    """The board's rule as a WHERE clause on ``cases``."""
    return and_(
        Case.status.in_(OPEN_VALUES),
        or_(LEVEL.is_not(None), Case.overdue.is_(True), Case.clock_due <= now),
    )


def level_clause(level: str) -> ColumnElement[bool]:
    if level == "due":
        return LEVEL.is_(None)
    return LEVEL.in_((level,))


COLUMNS = (
    Case.id,
    Case.case_no,
    Case.item_code,
    Case.item_name,
    Case.tier,
    Case.status,
    Case.source,
    Case.assignee,
    Case.community_code,
    Case.street_code,
    Case.clock_kind,
    Case.clock_due,
    Case.clock_unit,
    LEVEL.label("supervision_level"),
    Case.overdue,
    Case.overdue_since,
    NEXT_STEP_AT.label("next_sweep_at"),
    Case.extension_pending,
)


def _aware(at: datetime | None) -> datetime | None:
    return None if at is None else (at.replace(tzinfo=UTC) if at.tzinfo is None else at)


@dataclass(frozen=True, slots=True)
class BoardEntry:
    """One case on the board, with where it waits and how long it is past due."""

    case_no: str
    item_code: str
    item_name: str
    tier: int
    status: str
    assignee: str  # the current holder (承办单位)
    community_code: str
    street_code: str
    clock_kind: str | None
    clock_due: datetime | None
    clock_unit: str | None
    supervision_level: str | None
    overdue: bool
    overdue_since: datetime | None
    next_sweep_at: datetime | None
    waiting: str  # where the case waits, whatever its lateness (AwaitingDepartment…)
    late_hours: float  # past its clock's due time, in the clock's kind of hours (0: not yet)
    late_working: bool  # late_hours counts office hours (工作小时)

    @property
    def level(self) -> str:
        return self.supervision_level or "due"


@dataclass(frozen=True, slots=True)
class BoardSnapshot:
    as_of: datetime
    total: int
    counts: dict[str, int]  # by level (reminded / supervised / escalated / due)
    by_assignee: dict[str, int]
    by_community: dict[str, int]
    entries: tuple[BoardEntry, ...]  # most urgent first, at most ``limit``


def late_by(
    cal: WorkingCalendar, due: datetime | None, unit: str | None, now: datetime
) -> tuple[float, bool]:
    """How long past ``due`` at ``now``: (hours, counted in working time)."""
    working = unit is not None and TimeUnit(unit).is_working
    if due is None or now <= due:
        return 0.0, working
    span = cal.working_elapsed(due, now) if working else now - due
    return span / timedelta(hours=1), working


def entry(row: object, cal: WorkingCalendar, now: datetime) -> BoardEntry:
    r = row._mapping  # type: ignore[attr-defined]
    facts = CaseFacts(
        r["case_no"],
        CaseStatus(r["status"]),
        Tier(r["tier"]),
        r["source"],
        r["assignee"],
        r["community_code"],
    )
    due = _aware(r["clock_due"])
    hours, working = late_by(cal, due, r["clock_unit"], now)
    return BoardEntry(
        case_no=r["case_no"],
        item_code=r["item_code"],
        item_name=r["item_name"],
        tier=r["tier"],
        status=r["status"],
        assignee=r["assignee"],
        community_code=r["community_code"],
        street_code=r["street_code"],
        clock_kind=r["clock_kind"],
        clock_due=due,
        clock_unit=r["clock_unit"],
        supervision_level=r["supervision_level"],
        overdue=bool(r["overdue"]),
        overdue_since=_aware(r["overdue_since"]),
        next_sweep_at=_aware(r["next_sweep_at"]),
        waiting=waiting_for(facts, extension_pending=bool(r["extension_pending"])).value,
        late_hours=hours,
        late_working=working,
    )


def read_board(
    session: Session,
    cal: WorkingCalendar,
    now: datetime,
    *,
    where: tuple[ColumnElement[bool], ...] = (),
    level: str | None = None,
    limit: int = 200,
) -> BoardSnapshot:
    """The board as of ``now``: counts over every case on it, rows for the ``limit`` most
    urgent (earliest due first)."""
    clauses = [on_ladder(now), *where]
    if level is not None:
        clauses.append(level_clause(level))
    counted = session.execute(
        select(LEVEL, Case.assignee, Case.community_code, func.count())
        .where(*clauses)
        .group_by(LEVEL, Case.assignee, Case.community_code)
    ).all()
    rows = session.execute(
        select(*COLUMNS).where(*clauses).order_by(Case.clock_due.asc(), Case.id.asc()).limit(limit)
    ).all()
    counts: Counter[str] = Counter()
    by_assignee: Counter[str] = Counter()
    by_community: Counter[str] = Counter()
    for lvl, assignee, community, n in counted:
        counts[lvl or "due"] += n
        by_assignee[assignee] += n
        by_community[community] += n
    return BoardSnapshot(
        as_of=now,
        total=sum(counts.values()),
        counts=dict(counts),
        by_assignee=dict(by_assignee),
        by_community=dict(by_community),
        entries=tuple(entry(r, cal, now) for r in rows),
    )


@dataclass(frozen=True, slots=True)
class BoardSet:
    """Every board a sweep publishes, from one read of the ledger."""

    district: BoardSnapshot
    departments: dict[str, BoardSnapshot]
    communities: dict[str, BoardSnapshot]


def read_boards(
    session: Session,
    cal: WorkingCalendar,
    now: datetime,
    departments: Sequence[str],
    communities: Sequence[str],
    *,
    limit: int = 100,
) -> BoardSet:
    """The district board and one board per department and community (empty ones too: a
    board that emptied must say so). One pass over the cases on the ladder; rows are worded
    only for the ``limit`` most urgent of each board."""
    rows = session.execute(
        select(*COLUMNS).where(on_ladder(now)).order_by(Case.clock_due.asc(), Case.id.asc())
    ).all()
    made: dict[int, BoardEntry] = {}

    def worded(r: Any) -> BoardEntry:
        found = made.get(r.id)
        if found is None:
            found = made[r.id] = entry(r, cal, now)
        return found

    def snapshot(picked: list[Any]) -> BoardSnapshot:
        counts: Counter[str] = Counter(r.supervision_level or "due" for r in picked)
        return BoardSnapshot(
            as_of=now,
            total=len(picked),
            counts=dict(counts),
            by_assignee=dict(Counter(r.assignee for r in picked)),
            by_community=dict(Counter(r.community_code for r in picked)),
            entries=tuple(worded(r) for r in picked[:limit]),
        )

    by_dept: dict[str, list[Any]] = {d: [] for d in departments}
    by_comm: dict[str, list[Any]] = {c: [] for c in communities}
    for r in rows:
        by_dept.setdefault(r.assignee, []).append(r)
        by_comm.setdefault(r.community_code, []).append(r)
    return BoardSet(
        district=snapshot(list(rows)),
        departments={k: snapshot(v) for k, v in by_dept.items()},
        communities={k: snapshot(v) for k, v in by_comm.items()},
    )


def filter_clauses(
    department: str | None = None, community: str | None = None
) -> tuple[ColumnElement[bool], ...]:
    """The board's own filters: the current holder, the community."""
    out: list[ColumnElement[bool]] = []
    if department:
        out.append(Case.assignee == department)
    if community:
        out.append(Case.community_code == community)
    return tuple(out)


def holiday_note(book: CaseBook, now: datetime) -> str | None:
    """Every board's warning, in Chinese, when deadlines were counted without a year's holiday
    data: the years missing ahead (``WorkingCalendar.missing_ahead``) and the provisional cases."""
    provisional = sum(provisional_counts(book).values())
    return holiday_note_zh(book.calendar.missing_ahead(now), provisional)
