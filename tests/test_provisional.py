"""Provisional deadlines on both backends: a case whose deadline reaches a year without holiday
data is still opened, marked, and recounted by a trail event once the data is added."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gridgov.api.schemas import CaseOut
from gridgov.domain.calendar import CalendarDataWarning, WorkingCalendar
from gridgov.domain.enums import Role
from gridgov.domain.holidays import library_label
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.item_catalog.holidays import parse_holidays
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.models import Case
from gridgov.ledger.provisional import holiday_warning, provisional_counts, recount_provisional
from gridgov.runtime import Runtime
from tests.conftest import at
from tests.test_casebook import PATROLLER, new_case, pick
from tests.test_import_support import case, run

# Made up, in the published shape: 1 January (a Friday) and 4 January are holidays.
HOLIDAYS_2027 = """\
years:
  2027:
    source: test arrangement
    holidays: [2027-01-01, 2027-01-04]
"""
SUPERVISOR = Actor(Role.SUPERVISOR, "calendar-admin")


def test_missing_year_marks_then_recount_writes_the_trail(runtime: Runtime) -> None:
    item = pick(runtime.catalog, 3)
    book = runtime.book
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarDataWarning)
        early = book.open_case(new_case(runtime.catalog, item), PATROLLER, at(2026, 11, 2, 9), "a")
        late = book.open_case(new_case(runtime.catalog, item), PATROLLER, at(2026, 12, 31, 17), "b")
    assert early.case.provisional_years is None
    assert late.case.provisional_years == "2027"  # still opened, but marked
    assert CaseOut.of(late.case).deadline_provisional is True
    assert CaseOut.of(early.case).model_dump()["deadline_provisional"] is False
    assert provisional_counts(book) == {"2027": 1}

    # Without the data nothing is recounted; the case waits, visibly.
    report = recount_provisional(book, at(2026, 12, 31, 18), SUPERVISOR)
    assert (report.recounted, report.waiting) == (0, {"2027": 1})

    table = parse_holidays(HOLIDAYS_2027)
    cal = WorkingCalendar(holidays=table)
    fixed = CaseBook(book.engine, book.catalog, cal, book.ladder)
    report = recount_provisional(fixed, at(2027, 1, 2, 10), SUPERVISOR)
    assert (report.recounted, report.changed, report.waiting) == (1, 1, {})

    after = fixed.get(late.case.case_no)
    assert after.provisional_years is None
    assert late.case.handle_due is not None and after.handle_due is not None
    # Two weekdays became holidays, so the handle deadline moves by two office days
    # (it lands after 4 January, as every multi-day limit from 31 December 17:00 does).
    assert after.handle_due - late.case.handle_due >= timedelta(days=2)
    assert after.handle_due == cal.deadline(
        late.case.opened_at, item.deadlines.handle.to_duration()
    )
    last = fixed.trail(late.case.case_no)[-1]
    assert last.kind == EventKind.DEADLINE_RECOUNTED
    assert last.actor == "calendar-admin" and last.payload["years"] == "2027"
    assert last.payload["handle_due"] == [
        late.case.handle_due.isoformat(),
        after.handle_due.isoformat(),
    ]
    # Idempotent: a second run finds nothing to do and writes nothing.
    events = len(fixed.trail(late.case.case_no))
    again = recount_provisional(fixed, at(2027, 1, 2, 11), SUPERVISOR)
    assert again.recounted == 0
    assert len(fixed.trail(late.case.case_no)) == events
    with fixed.factory() as s:
        marked = s.scalars(select(Case.case_no).where(Case.provisional_years.is_not(None))).all()
    assert marked == []


@pytest.mark.parametrize("year", [2027])
def test_operator_data_means_nothing_is_provisional(runtime: Runtime, year: int) -> None:
    cal = WorkingCalendar(holidays=parse_holidays(HOLIDAYS_2027))
    book = CaseBook(runtime.engine, runtime.catalog, cal, runtime.book.ladder)
    item = pick(runtime.catalog, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalendarDataWarning)
        r = book.open_case(
            new_case(runtime.catalog, item), PATROLLER, at(year - 1, 12, 31, 17), "c"
        )
    assert r.case.provisional_years is None


def test_sweep_warning_names_missing_years_and_marked_cases(runtime: Runtime) -> None:
    book = runtime.book  # library data only: 2026 covered, 2027 not
    assert holiday_warning(book, at(2026, 6, 1)) is None
    assert holiday_warning(book, at(2026, 11, 2)) == (
        "no holiday data for 2027 — add the year to the holiday file, then "
        "`gridgov calendar recount`"
    )
    item = pick(runtime.catalog, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarDataWarning)
        book.open_case(new_case(runtime.catalog, item), PATROLLER, at(2026, 12, 31, 17), "w")
    warning = holiday_warning(book, at(2026, 12, 31, 18))
    assert warning is not None and "1 case(s) have provisional deadlines" in warning


def test_assessment_states_the_working_time_data_it_used(runtime: Runtime) -> None:
    from gridgov.assessments.engine import assess
    from gridgov.assessments.period import Month
    from gridgov.assessments.reports.tables import summary_frame
    from gridgov.assessments.scheme import load_scheme

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarDataWarning)
        a = assess(runtime.engine, runtime.calendar, Month.parse("2026-12"), load_scheme())
    assert a.working_time == (
        "office hours 08:30-12:00,14:00-18:00 in Asia/Shanghai; working days "
        f"2026: {library_label()}; 2027: NO DATA, Monday–Friday assumed"
    )
    summary = dict(summary_frame(a).itertuples(index=False))
    assert summary["working time"] == a.working_time


def test_healthz_says_when_holiday_data_is_missing(runtime: Runtime) -> None:
    import httpx

    from gridgov import clock
    from gridgov.api.app import create_app

    app = create_app(runtime, "none", key_ttl=0)
    transport = httpx.ASGITransport(app=app)

    async def health() -> dict[str, str]:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/healthz")
            assert r.status_code == 200  # alive all the same
            body: dict[str, str] = r.json()
            return body

    import asyncio

    with clock.use_clock(clock.SimClock(at(2026, 6, 1))):
        assert asyncio.run(health())["holiday_data"] == "ok"
    with clock.use_clock(clock.SimClock(at(2026, 12, 7))):
        assert asyncio.run(health())["holiday_data"] == "missing 2027"


def test_imported_cases_are_marked_and_recounted_in_bulk(runtime: Runtime, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarDataWarning)
        summary, rejects = run(
            runtime, "year_end.csv", "year_end_mapping.yaml", tmp_path, now=at(2026, 12, 31, 10)
        )
    assert (summary.imported, rejects) == (3, [])
    late, early, later = (case(runtime, f"YE-{i}") for i in (1, 2, 3))
    # 3 working days from 30 December reach 2027: marked, as the case book marks its own.
    assert (late.provisional_years, early.provisional_years) == ("2027", None)
    assert later.provisional_years == "2027"
    assert provisional_counts(runtime.book) == {"2027": 2}

    cal = WorkingCalendar(holidays=parse_holidays(HOLIDAYS_2027))
    fixed = CaseBook(runtime.book.engine, runtime.book.catalog, cal, runtime.book.ladder)
    # One case per transaction here, to go through more than one batch.
    report = recount_provisional(fixed, at(2027, 1, 2, 10), SUPERVISOR, batch=1)
    assert (report.recounted, report.changed, report.waiting) == (2, 2, {})
    item = runtime.catalog.version(late.item_code, late.item_version)
    assert item.deadlines.handle is not None
    for before in (late, later):
        after = fixed.get(before.case_no)
        assert after.provisional_years is None
        assert after.handle_due == cal.deadline(
            before.opened_at, item.deadlines.handle.to_duration()
        )
        last = fixed.trail(before.case_no)[-1]
        assert last.kind == EventKind.DEADLINE_RECOUNTED and last.actor == "calendar-admin"
        assert last.payload["handle_due"][1] == after.handle_due.isoformat()
    assert len(fixed.trail(early.case_no)) == len(runtime.book.trail(early.case_no))
    again = recount_provisional(fixed, at(2027, 1, 2, 11), SUPERVISOR)
    assert again.recounted == 0
