"""Provisional deadlines: which cases have them, and recounting them once holiday data exists.

A deadline that reaches a year without holiday data is computed Monday–Friday and the case is
marked (``cases.provisional_years``). When the operator adds the year (docs/calendar.md), each
such case gets one ``deadline_recounted`` event in its trail with the old and new due times;
nothing changes silently. Cases whose years are still missing are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.models import Case

RECOUNT_BATCH = 500  # cases per transaction: one commit instead of 500 (benchmarks/recount.py)


@dataclass(frozen=True, slots=True)
class RecountReport:
    recounted: int  # cases that got a deadline_recounted event
    changed: int  # of which at least one due time moved
    waiting: dict[str, int] = field(default_factory=dict)  # years still missing → cases


def provisional_counts(book: CaseBook) -> dict[str, int]:
    """Marked cases per ``provisional_years`` value (e.g. {"2027": 12})."""
    with book.factory() as s:
        rows = s.execute(
            select(Case.provisional_years, func.count())
            .where(Case.provisional_years.is_not(None))
            .group_by(Case.provisional_years)
        ).all()
    return {str(years): int(n) for years, n in rows}


def recount_provisional(
    book: CaseBook, at: datetime, actor: Actor, batch: int = RECOUNT_BATCH
) -> RecountReport:
    """Recount every provisional case whose years are now all covered, one event each,
    ``batch`` cases per transaction (``CaseBook.act_all``; benchmarks/recount.py)."""
    cal = book.calendar
    with book.factory() as s:
        marked = s.execute(
            select(Case.case_no, Case.provisional_years, Case.row_version)
            .where(Case.provisional_years.is_not(None))
            .order_by(Case.id)
        ).all()
    recounted = changed = 0
    waiting: dict[str, int] = {}
    todo: list[tuple[str, EventKind, str]] = []
    for case_no, years, version in marked:
        missing = [y for y in str(years).split(",") if not cal.covers(int(y))]
        if missing:
            label = ",".join(missing)
            waiting[label] = waiting.get(label, 0) + 1
            continue
        key = f"recount:{case_no}:{years}:{version}"
        todo.append((case_no, EventKind.DEADLINE_RECOUNTED, key))
    for i in range(0, len(todo), batch):
        for result in book.act_all(todo[i : i + batch], actor, at):
            if not result.replayed:
                recounted += 1
                changed += any(k.endswith("_due") for k in result.event.payload)
    return RecountReport(recounted, changed, waiting)


def holiday_warning(book: CaseBook, now: datetime) -> str | None:
    """What the 督办 sweep artifact warns about: provisional cases, or no data for next year
    from 1 November on (the State Council publishes in November). ``None`` when all is well."""
    missing = book.calendar.missing_ahead(now)
    counts = provisional_counts(book)
    parts = []
    if missing:
        parts.append(f"no holiday data for {', '.join(map(str, missing))}")
    if counts:
        parts.append(f"{sum(counts.values())} case(s) have provisional deadlines")
    if not parts:
        return None
    return "; ".join(parts) + " — add the year to the holiday file, then `gridgov calendar recount`"
