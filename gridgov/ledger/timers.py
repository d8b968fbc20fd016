"""Keep each case's 督办 timer (``timers``: limit, ladder steps taken, next step due) right
when a writer opens or moves the case (docs/ledger.md).

Every writer sets a case's clock fields with ``clocks.set_clock``; the timer is what those
fields imply (``rows.TIMER_FROM_CASE``), written in the writer's own transaction: the case
book through the ORM (:func:`keep`), bulk intake as rows built by ``rows.timer_row``
(:func:`insert_rows`), the importer in SQL from the case rows it just wrote (:func:`derive`). The
sweep (``ledger/supervision``) moves timers on by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select
from sqlalchemy.orm import Session

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
