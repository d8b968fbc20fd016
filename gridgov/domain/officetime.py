"""Vectorised twin of :class:`WorkingCalendar` for arrays of UTC microseconds.

The calendar answers one moment at a time; an assessment asks for a million. This builds the
office intervals of a date range once (from the calendar's own workdays and office hours) and
answers with ``numpy.searchsorted``. Results equal ``working_elapsed`` and ``deadline`` exactly
(tests compare them on random moments).
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from gridgov.domain.calendar import CalendarDataWarning, Duration, WorkingCalendar
from gridgov.domain.enums import TimeUnit

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
US_PER_HOUR = 3_600_000_000
_NATURAL = {
    TimeUnit.MINUTES: timedelta(minutes=1),
    TimeUnit.HOURS: timedelta(hours=1),
    TimeUnit.DAYS: timedelta(days=1),
    TimeUnit.WORKING_HOURS: timedelta(hours=1),
}


def to_us(t: datetime) -> int:
    return (t.astimezone(UTC) - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def span_us(cal: WorkingCalendar, duration: Duration) -> int:
    """The span of ``duration`` in µs, rounded the way the calendar rounds it."""
    unit = duration.unit
    base = (
        timedelta(minutes=cal.office_hours.minutes_per_day)
        if unit == TimeUnit.WORKING_DAYS
        else _NATURAL[unit]
    )
    return (base * duration.amount) // _US


class BeyondClock(ValueError):
    """A deadline falls after the last office interval the clock has laid out."""


class OfficeClock:
    """Office intervals of the local days ``first``…``last`` as flat arrays (µs since epoch)."""

    def __init__(
        self, cal: WorkingCalendar, first: date, last: date, margin_from: date | None = None
    ) -> None:
        self.cal, self.first, self.last = cal, first, last
        starts: list[int] = []
        ends: list[int] = []
        day = first
        while day <= last:
            if _workday(cal, day, quiet=margin_from is not None and day >= margin_from):
                for s, e in cal.office_hours.periods:
                    s_us = to_us(datetime.combine(day, s, cal.tz))
                    # Same rule as the calendar: a DST jump never makes a period negative.
                    starts.append(s_us)
                    ends.append(max(s_us, to_us(datetime.combine(day, e, cal.tz))))
            day += timedelta(days=1)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.lengths = np.asarray(ends, dtype=np.int64) - self.starts
        self.cum_end = np.cumsum(self.lengths, dtype=np.int64)  # office µs up to each end
        self.cum_start = self.cum_end - self.lengths
        self.lo = to_us(datetime.combine(first, datetime.min.time(), cal.tz))
        self.hi = to_us(datetime.combine(last + timedelta(days=1), datetime.min.time(), cal.tz))

    @classmethod
    def covering(
        cls, cal: WorkingCalendar, lo_us: int, hi_us: int, margin_us: int = 0
    ) -> OfficeClock:
        """A clock for moments between ``lo_us`` and ``hi_us``, plus ``margin_us`` of calendar
        time after it for deadlines (where missing holiday data is not worth a warning)."""
        first = from_us(lo_us).astimezone(cal.tz).date() - timedelta(days=1)
        data_end = from_us(hi_us).astimezone(cal.tz).date() + timedelta(days=1)
        last = from_us(hi_us + margin_us).astimezone(cal.tz).date() + timedelta(days=1)
        return cls(cal, first, last, margin_from=data_end + timedelta(days=1))

    def _check(self, us: I64) -> None:
        if us.size and (int(us.min()) < self.lo or int(us.max()) >= self.hi):
            raise ValueError(f"moments outside the office clock {self.first}…{self.last}")

    def position(self, us: I64) -> I64:
        """Office µs from the start of the clock up to each moment."""
        self._check(us)
        i = np.searchsorted(self.starts, us, side="right") - 1
        j = np.maximum(i, 0)
        inside = np.minimum(us - self.starts[j], self.lengths[j])
        return np.where(i >= 0, self.cum_start[j] + inside, 0)

    def working_hours(self, start_us: I64, end_us: I64) -> F64:
        """``working_elapsed(start, end)`` in hours, for arrays (NaN-free inputs)."""
        return (self.position(end_us) - self.position(start_us)) / US_PER_HOUR

    def deadline(self, start_us: I64, span: I64, working: npt.NDArray[np.bool_]) -> I64:
        """``deadline(start, duration)`` per row: ``span`` µs of office time (``working``) or
        natural time after ``start``."""
        out = start_us + span
        w = working & (span > 0)
        if not w.any():
            return out
        target = self.position(start_us[w]) + span[w]
        if int(target.max()) > int(self.cum_end[-1]):
            raise BeyondClock("deadline beyond the office clock; build a longer one")
        # First interval whose end reaches the target ("<=": landing on an end gives that end).
        k = np.searchsorted(self.cum_end, target, side="left")
        out[w] = self.starts[k] + (target - self.cum_start[k])
        return out


def clock_for(cal: WorkingCalendar, lo_us: int, hi_us: int, max_span_us: int = 0) -> OfficeClock:
    """A clock covering ``lo``…``hi`` and long enough for deadlines ``max_span_us`` of office
    time past ``hi`` (a working hour needs at most a few calendar days; holidays add more)."""
    per_day = cal.office_hours.minutes_per_day * 60_000_000
    days = int(max_span_us // per_day) + 1
    # Calendar days per working day stay under 2 even around Spring Festival; 2x + 15 is ample.
    return OfficeClock.covering(cal, lo_us, hi_us, (2 * days + 15) * 86_400_000_000)


def _workday(cal: WorkingCalendar, day: date, *, quiet: bool) -> bool:
    if not quiet:
        return cal.is_workday(day)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarDataWarning)
        return cal.is_workday(day)
