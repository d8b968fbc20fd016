"""``WorkingCalendar.deadline`` for arrays of moments (int64 µs since the epoch, UTC), over
whatever range of days an import turns out to need.

A million imported cases need a few million deadlines; one calendar call costs ~9 µs. The
vectorised office clock of the assessment (:class:`~gridgov.domain.officetime.OfficeClock`)
answers in well under one; an import does not know its date range in advance, so this keeps
one clock and lays out a longer one when a chunk needs days it does not cover. Results equal
the calendar's exactly (tests compare them, period ends included).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.domain.calendar import WorkingCalendar
from gridgov.domain.officetime import BeyondClock, OfficeClock, from_us, span_us, to_us

__all__ = ["WorkClock", "from_us", "span_us", "to_us"]

I64 = npt.NDArray[np.int64]
DAY_US = 86_400_000_000


class WorkClock:
    """An office clock over the local days ``first`` … ``last``; grows on demand."""

    def __init__(self, cal: WorkingCalendar) -> None:
        self.cal = cal
        self.first: date | None = None
        self.last: date | None = None
        self._clock: OfficeClock | None = None

    def _cover(self, lo_us: int, hi_us: int) -> OfficeClock:
        tz = self.cal.tz
        first = from_us(lo_us).astimezone(tz).date() - timedelta(days=1)
        last = from_us(hi_us).astimezone(tz).date() + timedelta(days=1)
        if self._clock is not None and self.first is not None and self.last is not None:
            if first >= self.first and last <= self.last:
                return self._clock
            first, last = min(first, self.first), max(last, self.last)
        # Years without holiday data are Monday–Friday; the calendar warns once per year.
        # (No margin_from: its warnings.catch_warnings changes process-wide state, and the
        # import prepares chunks in a worker thread.)
        self.first, self.last = first, last
        self._clock = OfficeClock(self.cal, first, last)
        return self._clock

    def deadline(self, start: I64, span: I64, working: npt.NDArray[np.bool_]) -> I64:
        """Per row: ``span`` µs of office time (``working``) or natural time after ``start``."""
        w = working & (span > 0)
        if not w.any():
            return start + span
        lo, hi = int(start[w].min()), int(start[w].max())
        # Office time per calendar day is at most a third of it; 3x + 20 days is ample room.
        hi += int(span[w].max()) * 3 + 20 * DAY_US
        while True:
            clock = self._cover(lo, hi)
            try:
                return clock.deadline(start, span, working)
            except BeyondClock:  # long holidays: lay out more days
                assert self.last is not None
                hi = to_us(datetime.combine(self.last, datetime.min.time(), self.cal.tz))
                hi += 60 * DAY_US


def missing_years(
    cal: WorkingCalendar, windows: list[tuple[I64, I64, npt.NDArray[np.bool_]]]
) -> npt.NDArray[np.object_]:
    """Per row, the years without holiday data that one of its working-time windows
    (start, due, counted in office time) reaches, as ``"2027"`` / ``"2026,2027"`` or None: the
    vectorised twin of ``ledger.clocks.provisional_years`` (a provisional deadline)."""
    n = len(windows[0][0]) if windows else 0
    out = np.full(n, None, dtype=object)
    years: list[tuple[int, npt.NDArray[np.bool_]]] = []
    for start, due, working in windows:
        use = working & (start != _NONE) & (due != _NONE)
        if not use.any():
            continue
        local = [
            pd.to_datetime(np.where(use, x, 0), unit="us", utc=True).tz_convert(cal.tz).year
            for x in (start, due)
        ]
        first, last = np.asarray(local[0]), np.asarray(local[1])
        for year in range(int(first[use].min()), int(last[use].max()) + 1):
            if not cal.covers(year):
                years.append((year, use & (first <= year) & (last >= year)))
    for year in sorted({y for y, _ in years}):
        hit = np.zeros(n, dtype=bool)
        for y, mask in years:
            if y == year:
                hit |= mask
        for i in np.flatnonzero(hit).tolist():
            out[i] = str(year) if out[i] is None else f"{out[i]},{year}"
    return out


_NONE = np.iinfo(np.int64).max  # a missing moment (exchange.prepare.NONE)
