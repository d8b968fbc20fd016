"""The clock fields of a case row: which time limit runs, when it falls due, and when the
督办 sweep next looks at it. One implementation for every writer — the case book, the bulk
intake and anything else that makes case rows — so a bulk case gets exactly the clocks a
case-book case gets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from gridgov.domain.calendar import Duration, WorkingCalendar
from gridgov.domain.deadlines import (
    Clock,
    DeadlineRules,
    Ladder,
    due_after,
    limit_unit,
    running_clock_kind,
)
from gridgov.domain.enums import CaseStatus, DeadlineKind, Tier, TimeUnit


class ClockFields(Protocol):
    """The case fields the clock rules read and write (``ledger.models.Case`` has them)."""

    status: str
    tier: int
    handled_at: datetime | None
    review_due: datetime | None
    acknowledge_due: datetime | None
    arrive_due: datetime | None
    handle_due: datetime | None
    clock_kind: str | None
    clock_start: datetime | None
    clock_due: datetime | None
    clock_unit: str | None
    next_sweep_at: datetime | None
    ladder_done: int
    supervision_level: str | None
    provisional_years: str | None


# Limits that run once the case is handled: their ladder starts at ``handled_at``.
AFTER_HANDLING = (DeadlineKind.REVIEW, DeadlineKind.CALLBACK)


def start_work(
    case: ClockFields, rules: DeadlineRules, at: datetime, calendar: WorkingCalendar
) -> None:
    """(Re)start the acknowledge/arrive/handle windows, e.g. on dispatch or re-route."""
    case.clock_start = at
    case.ladder_done, case.supervision_level = 0, None  # new windows, new ladder
    case.acknowledge_due = due_after(calendar, at, rules.acknowledge)
    case.arrive_due = due_after(calendar, at, rules.arrive)
    case.handle_due = due_after(calendar, at, rules.handle)


def set_clock(
    case: ClockFields,
    rules: DeadlineRules,
    calendar: WorkingCalendar,
    ladder: Ladder,
    at: datetime | None = None,
) -> None:
    """Point the case at the time limit that runs in its (new) state; ``at`` is the moment of
    the step that put it there (the callback limit runs from the review that passed)."""
    case.provisional_years = provisional_years(case, rules, calendar)
    kind = running_clock_kind(CaseStatus(case.status), Tier(case.tier))
    if kind is None:
        case.clock_kind = case.clock_unit = case.clock_due = case.next_sweep_at = None
        return
    if kind == DeadlineKind.CALLBACK and case.clock_kind != kind.value:
        assert at is not None, "entering evaluating needs the moment of the review"
        callback_due: datetime | None = calendar.deadline(at, rules.callback)
    else:
        callback_due = case.clock_due
    due = {
        DeadlineKind.ACKNOWLEDGE: case.acknowledge_due,
        DeadlineKind.ARRIVE: case.arrive_due or case.handle_due,
        DeadlineKind.HANDLE: case.handle_due,
        DeadlineKind.REVIEW: case.review_due,
        DeadlineKind.CALLBACK: callback_due,
    }[kind]
    # The review and callback ladders count from the handling (the sweep reads the same start,
    # ledger/supervision._START); every other limit from the work window's start.
    start = case.handled_at if kind in AFTER_HANDLING else case.clock_start
    if due is None:
        # No limit for this step (catalogue ``none``, or an imported case without one): the
        # case waits here with nothing falling due, so it is never overdue and never laddered.
        if case.clock_kind != kind.value:
            case.ladder_done, case.supervision_level = 0, None
        case.clock_kind, case.clock_due, case.clock_unit = kind.value, None, None
        case.next_sweep_at = None
        return
    assert start is not None
    if (case.clock_kind, case.clock_due) != (kind.value, due):
        if case.clock_kind != kind.value:
            case.ladder_done, case.supervision_level = 0, None  # a new limit, a new ladder
        case.clock_kind, case.clock_due = kind.value, due
    unit = limit_unit(rules, kind)
    case.clock_unit = unit.value
    case.next_sweep_at = ladder.step_due_at(
        calendar, Clock(kind, start, due, unit), case.ladder_done
    )


def working_windows(
    case: ClockFields, rules: DeadlineRules
) -> list[tuple[str, datetime, datetime]]:
    """(due field, start, due) of the case's deadlines counted in working time."""
    out = []
    for name, rule, start in (
        ("acknowledge_due", rules.acknowledge, case.clock_start),
        ("arrive_due", rules.arrive, case.clock_start),
        ("handle_due", rules.handle, case.clock_start),
        ("review_due", rules.review, case.handled_at),
    ):
        due = getattr(case, name)
        if rule is not None and rule.unit.is_working and start is not None and due is not None:
            out.append((name, start, due))
    return out


def provisional_years(
    case: ClockFields, rules: DeadlineRules, calendar: WorkingCalendar
) -> str | None:
    """Years without holiday data that a working-time deadline of the case reaches, e.g. "2027"."""
    years = sorted(
        {y for _, s, d in working_windows(case, rules) for y in calendar.missing_years(s, d)}
    )
    return ",".join(map(str, years)) or None


def recount(
    case: ClockFields, rules: DeadlineRules, calendar: WorkingCalendar
) -> dict[str, object]:
    """Lay a provisional case's deadlines out again now that its years have data.

    Each working-time deadline keeps the office time it was given (measured on the calendar of
    the time, Monday–Friday in the missing years, so extensions survive) and is placed on
    ``calendar``. Returns what changed, for the trail: ``{"years": …, "handle_due": [old, new]}``.
    """
    years = [int(y) for y in (case.provisional_years or "").split(",") if y]
    old = calendar.without_years(years)
    changes: dict[str, object] = {"years": case.provisional_years}
    for name, start, due in working_windows(case, rules):
        office = old.working_elapsed(start, due)
        new = calendar.deadline(start, Duration(office / _HOUR, TimeUnit.WORKING_HOURS))
        if new != due:
            setattr(case, name, new)
            changes[name] = [due.isoformat(), new.isoformat()]
    return changes


_HOUR = timedelta(hours=1)
