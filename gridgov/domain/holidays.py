"""Which days are worked, per year, from the operator's holiday data or chinese-calendar.

A year's arrangement (放假调休安排) is what the State Council publishes each November: statutory
holidays, the make-up working days (调休上班) on weekends around them, and any local extra rest
days the city decides. Operator data (``holidays.yaml``, see docs/calendar.md) wins over the
library, because a city must use next year's arrangement the day it is published, not when
chinese-calendar is re-released. A year neither knows is *uncovered*: deadlines that reach it are
provisional. Pure Python: the file reader lives in ``item_catalog/holidays.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib.metadata import version

import chinese_calendar


@dataclass(frozen=True, slots=True)
class YearArrangement:
    """One year's declared days; ``source`` says where they come from (a notice, a decision)."""

    year: int
    holidays: frozenset[date]  # statutory holidays incl. bridged days (放假)
    workdays: frozenset[date]  # make-up working days on weekends (调休上班)
    rest_days: frozenset[date] = frozenset()  # local extra rest days (e.g. a typhoon day)
    source: str = ""

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays or day in self.rest_days:
            return False
        return day.weekday() < 5


@dataclass(frozen=True, slots=True)
class HolidayTable:
    """Operator holiday data: year → arrangement, read from ``origin`` (a file name)."""

    years: Mapping[int, YearArrangement] = field(default_factory=dict)
    origin: str = ""


@cache
def library_label() -> str:
    return f"chinese-calendar {version('chinese-calendar')}"


@cache
def library_covers(year: int) -> bool:
    """Whether chinese-calendar has that year's arrangement (it raises for unknown years)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def year_source(table: HolidayTable | None, year: int, library: bool = True) -> str | None:
    """Where ``year``'s working days come from, or ``None`` if no data covers it.

    ``library=False`` is a calendar declared without Chinese holidays (a history from
    elsewhere): its other years are Monday–Friday by declaration, so they are covered.
    """
    if table is not None and year in table.years:
        note = table.years[year].source
        return f"{table.origin} ({note})" if note else table.origin
    if not library:
        return "Monday–Friday (no Chinese holidays, as declared)"
    if library_covers(year):
        return library_label()
    return None
