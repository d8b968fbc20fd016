"""Working-time calendar (工作时 / 工作日): office hours on workdays, holidays and 调休 included."""

from __future__ import annotations

import math
import re
import warnings
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import chinese_calendar

from gridgov.domain.enums import TimeUnit
from gridgov.domain.holidays import HolidayTable, year_source


@dataclass(frozen=True, slots=True)
class Duration:
    """An amount of natural or working time, as a catalogue deadline states it."""

    amount: float
    unit: TimeUnit


class CalendarDataWarning(UserWarning):
    """Neither the operator's holiday data nor chinese_calendar has a year: Monday–Friday."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_NATURAL = {
    TimeUnit.MINUTES: timedelta(minutes=1),
    TimeUnit.HOURS: timedelta(hours=1),
    TimeUnit.DAYS: timedelta(days=1),
    TimeUnit.WORKING_HOURS: timedelta(hours=1),
}
_PERIOD = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Office periods of a working day, e.g. ((08:30,12:00),(14:00,18:00))."""

    periods: tuple[tuple[time, time], ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours: no office periods")
        prev_end: time | None = None
        for start, end in self.periods:
            label = f"{start.isoformat('minutes')}-{end.isoformat('minutes')}"
            if any(t.tzinfo is not None or t.second or t.microsecond for t in (start, end)):
                raise ValueError(f"office period {label!r}: use naive whole-minute times")
            if start >= end:
                raise ValueError(f"office period {label!r} does not end after it starts")
            if prev_end is not None and start < prev_end:
                raise ValueError(f"office period {label!r} overlaps or precedes the one before it")
            prev_end = end

    @classmethod
    def parse(cls, spec: str) -> OfficeHours:
        """``"08:30-12:00,14:00-18:00"``; ValueError naming the bad part."""
        if not spec.strip():
            raise ValueError("office hours: empty spec")
        periods = []
        for raw in spec.split(","):
            part = raw.strip()
            m = _PERIOD.fullmatch(part)
            if m is None:
                raise ValueError(f"office period {part!r} is not HH:MM-HH:MM")
            h1, m1, h2, m2 = map(int, m.groups())
            try:
                periods.append((time(h1, m1), time(h2, m2)))
            except ValueError as exc:
                raise ValueError(f"office period {part!r}: {exc}") from exc
        return cls(tuple(periods))

    @property
    def minutes_per_day(self) -> int:
        return sum(
            (end.hour - start.hour) * 60 + end.minute - start.minute for start, end in self.periods
        )


DEFAULT_OFFICE_HOURS = OfficeHours.parse("08:30-12:00,14:00-18:00")


@dataclass(frozen=True, slots=True)
class _Year:
    """One local calendar year of office time, in microseconds since the epoch."""

    first: int  # date ordinal of 1 January
    cum: list[int]  # office µs before each day; cum[-1] is the year's total
    days: list[tuple[tuple[int, int], ...]]  # each day's office intervals


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _US


def _moment(us: int, tz: tzinfo | None) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime: {t.isoformat()}")
    return t


class WorkingCalendar:
    """Office time in ``tz``: office hours on workdays per chinese_calendar, plus local overrides.

    Working time is counted on an absolute clock (µs since the epoch), so results are exact and
    correct across DST changes; day boundaries and office hours are read in ``tz``.
    """

    def __init__(
        self,
        tz: str | ZoneInfo = "Asia/Shanghai",
        office_hours: OfficeHours | None = None,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        holidays: HolidayTable | None = None,
        library: bool = True,
    ) -> None:
        self.holidays = holidays
        self.library = library  # False: no chinese_calendar (histories from elsewhere)
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.office_hours = office_hours or DEFAULT_OFFICE_HOURS
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        if both := self.extra_holidays & self.extra_workdays:
            days = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"dates both extra holiday and extra workday: {days}")
        self._working_day = timedelta(minutes=self.office_hours.minutes_per_day)
        self._workdays: dict[date, bool] = {}
        self._years: dict[int, _Year] = {}
        self._warned: set[int] = set()
        self._assume_weekdays: frozenset[int] = frozenset()
        self._without: dict[frozenset[int], WorkingCalendar] = {}

    def __repr__(self) -> str:
        return f"WorkingCalendar(tz={self.tz.key!r}, office_hours={self.office_hours!r})"

    def for_zone(self, tz: str) -> WorkingCalendar:
        """The same holiday data and office hours read in another zone (a per-import calendar)."""
        return WorkingCalendar(
            tz,
            self.office_hours,
            self.extra_holidays,
            self.extra_workdays,
            self.holidays,
            self.library,
        )

    def source(self, year: int) -> str | None:
        """Where ``year``'s working days come from (operator file, library), ``None`` if nowhere."""
        if year in self._assume_weekdays:
            return None
        return year_source(self.holidays, year, self.library)

    def describe(self, years: Iterable[int]) -> str:
        """The working-time data used for ``years``, as reports state it."""
        hours = ",".join(
            f"{a.isoformat('minutes')}-{b.isoformat('minutes')}"
            for a, b in self.office_hours.periods
        )
        data = "; ".join(
            f"{y}: {self.source(y) or 'NO DATA, Monday–Friday assumed'}" for y in sorted(years)
        )
        return f"office hours {hours} in {self.tz.key}; working days {data}"

    def covers(self, year: int) -> bool:
        """Whether ``year`` has holiday data (deadlines reaching a year without are provisional)."""
        return self.source(year) is not None

    def missing_years(self, start: datetime, due: datetime) -> tuple[int, ...]:
        """Local years from ``start`` to ``due`` without holiday data: a provisional deadline."""
        first, last = start.astimezone(self.tz).year, due.astimezone(self.tz).year
        return tuple(y for y in range(first, last + 1) if not self.covers(y))

    def missing_ahead(self, now: datetime) -> tuple[int, ...]:
        """Years without data that deadlines opened now may reach: this one, and from
        1 November (the State Council publishes in November) the next."""
        local = _aware(now).astimezone(self.tz)
        years = [local.year] + ([local.year + 1] if local.month >= 11 else [])
        return tuple(y for y in years if not self.covers(y))

    def without_years(self, years: Iterable[int]) -> WorkingCalendar:
        """This calendar as it was while ``years`` had no data: Monday–Friday, no warning.

        A recount measures a provisional deadline's office time on this calendar, then lays the
        same office time out on the real one. Kept per set of years: a bulk recount asks for
        the same one thousands of times, and each new calendar lays its years out again
        (benchmarks/recount.py).
        """
        key = frozenset(years)
        if (known := self._without.get(key)) is not None:
            return known
        old = WorkingCalendar(
            self.tz,
            self.office_hours,
            self.extra_holidays,
            self.extra_workdays,
            self.holidays,
            self.library,
        )
        old._assume_weekdays = key
        old._warned.update(old._assume_weekdays)
        self._without[key] = old
        return old

    def is_workday(self, day: date) -> bool:
        """Statutory workday (调休 make-up days included), unless overridden by the extras."""
        if isinstance(day, datetime):
            raise TypeError("is_workday takes a date; use t.astimezone(calendar.tz).date()")
        known = self._workdays.get(day)
        if known is None:
            known = self._workdays[day] = self._lookup(day)
        return known

    def deadline(self, start: datetime, duration: Duration) -> datetime:
        """When ``duration`` has run from ``start``; working time counts only office time."""
        _aware(start)
        span = self._span(duration)
        if not duration.unit.is_working:
            return (start.astimezone(UTC) + span).astimezone(start.tzinfo)
        if not span:
            return start
        year, done = self._position(start)
        target = done + span // _US
        info = self._year(year)
        while target > info.cum[-1]:
            target -= info.cum[-1]
            year += 1
            if year > MAXYEAR:
                raise OverflowError(f"deadline {duration} from {start} is past year {MAXYEAR}")
            info = self._year(year)
        # target > 0, so the day holding it is the one before the first cum >= target.
        i = bisect_left(info.cum, target) - 1
        rest = target - info.cum[i]
        for s, e in info.days[i]:
            if rest <= e - s:  # "<=": landing on a period's end gives that end, e.g. 12:00
                return _moment(s + rest, start.tzinfo)
            rest -= e - s
        raise AssertionError("office time bookkeeping is inconsistent")

    def working_elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Office time between ``start`` and ``end``."""
        if _us(_aware(end)) < _us(_aware(start)):
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        y_start, done_start = self._position(start)
        y_end, done_end = self._position(end)
        whole_years = sum(self._year(y).cum[-1] for y in range(y_start, y_end))
        return timedelta(microseconds=done_end - done_start + whole_years)

    def elapsed(self, start: datetime, end: datetime, unit: TimeUnit) -> float:
        """Time from ``start`` to ``end`` in ``unit`` (natural or working)."""
        if unit.is_working:
            span = self.working_elapsed(start, end)
        else:
            span = _aware(end).astimezone(UTC) - _aware(start).astimezone(UTC)
            if span < timedelta(0):
                raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        return span / self._unit(unit)

    def fraction_used(self, start: datetime, due: datetime, now: datetime, unit: TimeUnit) -> float:
        """Share of the window [start, due] used by ``now``; above 1 once past due.

        A zero-length window is 0.0 before ``due`` and ``math.inf`` from ``due`` on, matching a
        ladder that fires every step at once when there is no time to share out.
        """
        window = self.elapsed(start, due, unit)
        used = self.elapsed(start, now, unit) if _us(_aware(now)) > _us(start) else 0.0
        if window:
            return used / window
        return 0.0 if _us(now) < _us(due) else math.inf

    def next_working_moment(self, t: datetime) -> datetime:
        """``t`` if inside office hours (a period's end is outside), else the next period start."""
        x = _us(_aware(t))
        local = t.astimezone(self.tz)
        year = local.year
        info = self._year(year)
        i = local.toordinal() - info.first
        while True:
            for s, e in info.days[i]:
                if x < e:
                    return t if x >= s else _moment(s, t.tzinfo)
            i += 1
            if i == len(info.days):
                year, i = year + 1, 0
                if year > MAXYEAR:
                    raise OverflowError(f"no office time after {t.isoformat()}")
                info = self._year(year)

    # -- internals -------------------------------------------------------------------------------

    def _unit(self, unit: TimeUnit) -> timedelta:
        return self._working_day if unit == TimeUnit.WORKING_DAYS else _NATURAL[unit]

    def _span(self, duration: Duration) -> timedelta:
        if not math.isfinite(duration.amount) or duration.amount < 0:
            raise ValueError(f"duration must be finite and non-negative: {duration}")
        return self._unit(duration.unit) * duration.amount

    def _lookup(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        if day.year in self._assume_weekdays:
            return day.weekday() < 5
        if self.holidays is not None and (declared := self.holidays.years.get(day.year)):
            return declared.is_workday(day)
        if not self.library:
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                warnings.warn(
                    f"chinese_calendar has no holiday data for {day.year}; nor has the "
                    "operator's holiday file: treating Monday–Friday as workdays",
                    CalendarDataWarning,
                    stacklevel=3,
                )
            return day.weekday() < 5

    def _year(self, year: int) -> _Year:
        info = self._years.get(year)
        if info is None:
            info = self._years[year] = self._build_year(year)
        return info

    def _build_year(self, year: int) -> _Year:
        first = date(year, 1, 1).toordinal()
        cum, days = [0], []
        for ordinal in range(first, date(year, 12, 31).toordinal() + 1):
            day = date.fromordinal(ordinal)
            spans: tuple[tuple[int, int], ...] = ()
            if self.is_workday(day):
                spans = tuple(self._interval(day, s, e) for s, e in self.office_hours.periods)
            days.append(spans)
            cum.append(cum[-1] + sum(e - s for s, e in spans))
        return _Year(first, cum, days)

    def _interval(self, day: date, start: time, end: time) -> tuple[int, int]:
        s = _us(datetime.combine(day, start, self.tz))
        # A DST jump inside a period shortens it; never let it go negative.
        return s, max(s, _us(datetime.combine(day, end, self.tz)))

    def _position(self, t: datetime) -> tuple[int, int]:
        """(local year of ``t``, office µs from the start of that year up to ``t``)."""
        local = t.astimezone(self.tz)
        info = self._year(local.year)
        i = local.toordinal() - info.first
        x = _us(t)
        done = info.cum[i]
        for s, e in info.days[i]:
            if x <= s:
                break
            done += min(x, e) - s
        return local.year, done
