"""Keep each case's 督办 timer (``timers``: limit, ladder steps taken, next step due) right
when a writer opens or moves the case, and read a case's ladder position from it
(docs/ledger.md).

Every writer sets a case's clock fields with ``clocks.set_clock``; the timer is what those
fields imply (``rows.TIMER_FROM_CASE``), written in the writer's own transaction: the case
book through the ORM (:func:`keep`), bulk intake as rows built by ``rows.timer_row``
(:func:`insert_rows`), the importer in SQL from the case rows it just wrote (:func:`derive`). The
sweep (``ledger/supervision``) moves timers on by itself and writes the case row only when
what a reader sees of the case changes (a step at or past the deadline, the top of the
ladder): after a reminder the case row's ``ladder_done``/``next_sweep_at`` lag behind its
timer, and its ``supervision_level`` is still empty. Readers of the ladder position take it
from here: the case book through :func:`load`, the API's case list through :func:`load_all`,
SQL readers (the boards) through :data:`LEVEL` and :data:`NEXT_STEP_AT`, readers of whole case
rows (the export) through :func:`case_columns`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, delete, func, insert, literal, select
from sqlalchemy import case as when
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from gridgov.domain.lifecycle import EventKind
from gridgov.ledger.fastrows import BulkStatement
from gridgov.ledger.models import Case, Timer
from gridgov.ledger.rows import CASES, TIMER_COLUMNS, TIMER_FROM_CASE, TIMERS, timer_row


def keep(s: Session, case: Case) -> None:
    """The case book: make the case's timer what its clock fields say (after ``set_clock``)."""
    want = timer_row(case.id, case.clock_kind, case.ladder_done, case.next_sweep_at)
    have = s.get(Timer, case.id)
    if want is None:
        if have is not None:
            s.delete(have)
        return
    _, kind, step, due = want
    if have is None:
        s.add(Timer(case_id=case.id, limit_kind=kind, step=step, due=due))
    elif (have.limit_kind, have.step, have.due) != (kind, step, due):
        have.limit_kind, have.step, have.due = kind, step, due


def load(s: Session, case: Case) -> None:
    """The case book, on loading a case: bring its ladder columns up to its timer (what the
    sweep has done since the case row was last written), so a command applied to it starts
    from where the ladder really stands and its record shows it."""
    timer = s.get(Timer, case.id)
    if timer is not None:
        _apply(case, timer)


def load_all(s: Session, cases: Sequence[Case]) -> None:
    """:func:`load` for a page of cases (the API's case list), in one query."""
    if not cases:
        return
    found = {
        t.case_id: t
        for t in s.scalars(select(Timer).where(Timer.case_id.in_([c.id for c in cases])))
    }
    for case in cases:
        if (timer := found.get(case.id)) is not None:
            _apply(case, timer)


def _apply(case: Case, timer: Timer) -> None:
    if timer.limit_kind != case.clock_kind:
        return  # cannot happen while every writer keeps timers: the case row wins
    if (case.ladder_done, case.next_sweep_at) == (timer.step, timer.due):
        return
    # As if the row had been read with its timer joined: not a change of the case, so
    # reading it writes nothing, and a command writes these only if it moves the clock.
    set_committed_value(case, "ladder_done", timer.step)
    set_committed_value(case, "next_sweep_at", timer.due)
    if timer.step and case.supervision_level is None:
        # Steps before the deadline are reminders (``Ladder`` refuses anything else); the
        # sweep writes the level into the case row from the 督办 step on.
        set_committed_value(case, "supervision_level", EventKind.REMINDED.value)


# The ladder level a reader shows, as SQL on ``cases``: the case row's own once a step at or
# past the deadline wrote it, else "reminded" while the case's timer has steps behind it
# (steps before the deadline are reminders: ``Ladder`` refuses anything else).
LEVEL: ColumnElement[str | None] = when(
    (Case.supervision_level.is_not(None), Case.supervision_level),
    (
        select(Timer.step).where(Timer.case_id == Case.id).scalar_subquery() > 0,
        literal(EventKind.REMINDED.value, String(16)),
    ),
    else_=None,
)
# When the sweep next looks at the case (its timer's due time; none: no step ahead).
NEXT_STEP_AT = select(Timer.due).where(Timer.case_id == Case.id).scalar_subquery()
# The ladder columns of ``cases`` as a reader must see them (the SQL form of :func:`load`):
# the timer's step and due time while the case has a timer, else the row's own; the level
# as :data:`LEVEL`. For readers of whole case rows in SQL (the export).
AS_READ: dict[str, ColumnElement[Any]] = {
    "ladder_done": func.coalesce(
        select(Timer.step).where(Timer.case_id == Case.id).scalar_subquery(), Case.ladder_done
    ),
    "next_sweep_at": func.coalesce(NEXT_STEP_AT, Case.next_sweep_at),
    "supervision_level": LEVEL,
}


def case_columns() -> list[ColumnElement[Any]]:
    """Every column of ``cases`` in table order, the ladder ones as :data:`AS_READ`."""
    return [AS_READ[c.name].label(c.name) if c.name in AS_READ else c for c in CASES.columns]


def insert_rows(conn: Connection, rows: Iterable[tuple[Any, ...] | None]) -> None:
    """Bulk writers: the timers of new cases (``rows.timer_row`` results; None: no timer)."""
    BulkStatement(conn, TIMERS, TIMER_COLUMNS).execute([r for r in rows if r is not None])


def derive(conn: Connection, where: ColumnElement[bool]) -> None:
    """Set the timers of the cases matching ``where`` (a clause on ``cases``) from their rows,
    in SQL: for writers that have the cases' values only as stored rows (the importer)."""
    ids = select(CASES.c.id).where(where)
    conn.execute(delete(TIMERS).where(TIMERS.c.case_id.in_(ids)))
    source = select(*(CASES.c[c] for c in TIMER_FROM_CASE)).where(
        where, CASES.c[TIMER_FROM_CASE[-1]].is_not(None)
    )
    conn.execute(insert(TIMERS).from_select(list(TIMER_COLUMNS), source))


def of_cases(conn: Connection, case_ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """The stored timers of these cases (tests and checks): case id → row."""
    q = select(*(TIMERS.c[c] for c in TIMER_COLUMNS)).where(TIMERS.c.case_id.in_(case_ids))
    return {r[0]: tuple(r) for r in conn.execute(q)}
