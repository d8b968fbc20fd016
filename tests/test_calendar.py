"""Working-time calendar: hand-checked 2026 holiday cases, parsing, fallback years, properties."""

from __future__ import annotations

import math
import time as wallclock
import warnings
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.domain.calendar import (
    DEFAULT_OFFICE_HOURS,
    CalendarDataWarning,
    Duration,
    OfficeHours,
    WorkingCalendar,
)
from gridgov.domain.enums import TimeUnit as U

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()


def at(*args: int) -> datetime:
    """A moment in Shanghai local time."""
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def wh(amount: float) -> Duration:
    return Duration(amount, U.WORKING_HOURS)


def wd(amount: float) -> Duration:
    return Duration(amount, U.WORKING_DAYS)


# -- what chinese_calendar says about 2026 (checked against the State Council notice) ----------


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2026, 1, 1), False),  # New Year's Day, Thu
        (date(2026, 1, 2), False),  # Fri, bridged
        (date(2026, 1, 4), True),  # Sun, make-up workday for New Year
        (date(2026, 2, 14), True),  # Sat, make-up for Spring Festival
        (date(2026, 2, 15), False),  # Spring Festival holiday Feb 15–23
        (date(2026, 2, 17), False),
        (date(2026, 2, 23), False),  # Mon, last holiday day
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Sat, make-up for Spring Festival
        (date(2026, 9, 20), True),  # Sun, make-up for National Day (per chinese_calendar)
        (date(2026, 9, 25), False),  # Mid-Autumn, Fri
        (date(2026, 9, 30), True),
        (date(2026, 10, 1), False),  # National Day holiday Oct 1–7
        (date(2026, 10, 4), False),
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Sat, make-up for National Day
        (date(2026, 10, 11), False),  # an ordinary Sunday
        (date(2026, 3, 2), True),  # an ordinary Monday
    ],
)
def test_is_workday_2026(day: date, workday: bool) -> None:
    assert CAL.is_workday(day) is workday


def test_is_workday_rejects_datetime() -> None:
    with pytest.raises(TypeError):
        CAL.is_workday(at(2026, 3, 2, 9))


# -- deadlines by hand (office hours 08:30–12:00, 14:00–18:00 = 450 min a day) --------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # Wed 16:00–18:00 = 2 h; Oct 1–7 off; Thu Oct 8 08:30 + 2 h.
        (at(2026, 9, 30, 16), wh(4), at(2026, 10, 8, 10, 30)),
        # Fri 10:00–18:00 = 360 min; Sat Oct 10 (make-up) 08:30 + 90 min.
        (at(2026, 10, 9, 10), wd(1), at(2026, 10, 10, 10)),
        # Fri 17:00–18:00 = 1 h; Sat Feb 14 (make-up) 08:30 + 3 h = 11:30.
        (at(2026, 2, 13, 17), wh(4), at(2026, 2, 14, 11, 30)),
        # Fri 360 min + Sat Feb 14 450 min = 810; Feb 15–23 off; Tue Feb 24 08:30 + 90 min.
        (at(2026, 2, 13, 10), wd(2), at(2026, 2, 24, 10)),
        # Fri 17:00–18:00 = 1 h; Sat Feb 28 (make-up) 08:30 + 3 h.
        (at(2026, 2, 27, 17), wh(4), at(2026, 2, 28, 11, 30)),
        # Fri 60 min; Sat off; Sun Sep 20 (make-up) 08:30 + 390 min = 17:00.
        (at(2026, 9, 18, 17), wd(1), at(2026, 9, 20, 17)),
        # Thu 60 min; Fri Sep 25 Mid-Autumn, weekend; Mon Sep 28 08:30 + 390 min.
        (at(2026, 9, 24, 17), wd(1), at(2026, 9, 28, 17)),
        # Wed 60 min; Jan 1–2 off, Sat Jan 3 off; Sun Jan 4 (make-up) 08:30 + 60 min.
        (at(2025, 12, 31, 17), wh(2), at(2026, 1, 4, 9, 30)),
        # Thu 60 min; May 1–5 off; Wed May 6 08:30 + 390 min.
        (at(2026, 4, 30, 17), wd(1), at(2026, 5, 6, 17)),
        # Fri 60 min; Sat May 9 (make-up) 08:30 + 3 h.
        (at(2026, 5, 8, 17), wh(4), at(2026, 5, 9, 11, 30)),
        # Fri 60 min; weekend; Mon Apr 6 Qingming; Tue Apr 7 08:30 + 3 h.
        (at(2026, 4, 3, 17), wh(4), at(2026, 4, 7, 11, 30)),
        # Spec example: filed 17:00, one working day later is 17:00 the next workday.
        (at(2026, 3, 2, 17), wd(1), at(2026, 3, 3, 17)),
        # Lands exactly on the end of the morning period: 12:00, not 14:00.
        (at(2026, 3, 2, 8, 30), wh(3.5), at(2026, 3, 2, 12)),
        # ... and on the end of the day: 18:00, not 08:30 next day.
        (at(2026, 3, 2, 8, 30), wd(1), at(2026, 3, 2, 18)),
        # Half a working day = 225 min: 210 in the morning, 15 after lunch.
        (at(2026, 3, 2, 8, 30), wd(0.5), at(2026, 3, 2, 14, 15)),
        # Starting in the lunch break counts from 14:00.
        (at(2026, 3, 2, 12, 30), wh(1), at(2026, 3, 2, 15)),
        # Starting on a Saturday counts from Monday 08:30.
        (at(2026, 3, 7, 9), wh(1), at(2026, 3, 9, 9, 30)),
        # Starting before office hours counts from 08:30.
        (at(2026, 3, 2, 6), wh(0.25), at(2026, 3, 2, 8, 45)),
        # Zero working time: the start itself, even outside office hours.
        (at(2026, 3, 7, 9), wh(0), at(2026, 3, 7, 9)),
    ],
)
def test_deadline_known_cases(start: datetime, duration: Duration, due: datetime) -> None:
    assert CAL.deadline(start, duration) == due
    assert CAL.working_elapsed(start, due) == span(duration)


def test_deadline_keeps_start_tzinfo() -> None:
    start = datetime(2026, 9, 30, 8, tzinfo=UTC)  # 16:00 in Shanghai
    due = CAL.deadline(start, wh(4))
    assert due.tzinfo is UTC
    assert due == datetime(2026, 10, 8, 2, 30, tzinfo=UTC)


def test_working_elapsed_known() -> None:
    # Wed 09:00–18:00 = 420 min; Oct 1–7 off; Thu Oct 8 450 min; Fri Oct 9 08:30–09:00 30 min.
    assert CAL.working_elapsed(at(2026, 9, 30, 9), at(2026, 10, 9, 9)) == timedelta(hours=15)
    assert CAL.elapsed(at(2026, 9, 30, 9), at(2026, 10, 9, 9), U.WORKING_DAYS) == 2.0
    assert CAL.elapsed(at(2026, 9, 30, 9), at(2026, 10, 9, 9), U.WORKING_HOURS) == 15.0
    # Only Sat Feb 14 (make-up) lies between these.
    assert CAL.working_elapsed(at(2026, 2, 13, 18), at(2026, 2, 24, 8, 30)) == timedelta(hours=7.5)
    # Across New Year: Wed Dec 31 17:00–18:00, then Sun Jan 4 (make-up) 08:30–10:00.
    assert CAL.working_elapsed(at(2025, 12, 31, 17), at(2026, 1, 4, 10)) == timedelta(hours=2.5)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (at(2026, 10, 3, 9), at(2026, 10, 4, 17)),  # National Day holiday
        (at(2026, 3, 2, 12), at(2026, 3, 2, 14)),  # lunch break
        (at(2026, 3, 2, 18), at(2026, 3, 3, 8, 30)),  # overnight
        (at(2026, 3, 2, 10), at(2026, 3, 2, 10)),  # empty span
    ],
)
def test_working_elapsed_without_office_time_is_zero(start: datetime, end: datetime) -> None:
    assert CAL.working_elapsed(start, end) == timedelta(0)


def test_working_elapsed_rejects_reversed_span() -> None:
    with pytest.raises(ValueError, match="before start"):
        CAL.working_elapsed(at(2026, 3, 2, 11), at(2026, 3, 2, 10))
    with pytest.raises(ValueError, match="before start"):
        CAL.elapsed(at(2026, 3, 2, 11), at(2026, 3, 2, 10), U.HOURS)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (at(2026, 3, 2, 10), at(2026, 3, 2, 10)),
        (at(2026, 3, 2, 8, 30), at(2026, 3, 2, 8, 30)),
        (at(2026, 3, 2, 8, 29), at(2026, 3, 2, 8, 30)),
        (at(2026, 3, 2, 12), at(2026, 3, 2, 14)),
        (at(2026, 9, 30, 18), at(2026, 10, 8, 8, 30)),
        (at(2026, 10, 9, 19), at(2026, 10, 10, 8, 30)),
        (at(2026, 2, 14, 18), at(2026, 2, 24, 8, 30)),
    ],
)
def test_next_working_moment(t: datetime, expected: datetime) -> None:
    assert CAL.next_working_moment(t) == expected


# -- natural time ------------------------------------------------------------------------------


def test_natural_units_ignore_office_hours() -> None:
    start = at(2026, 9, 30, 17)
    assert CAL.deadline(start, Duration(90, U.MINUTES)) == at(2026, 9, 30, 18, 30)
    assert CAL.deadline(start, Duration(2, U.HOURS)) == at(2026, 9, 30, 19)
    assert CAL.deadline(start, Duration(1.5, U.DAYS)) == at(2026, 10, 2, 5)
    assert CAL.elapsed(start, at(2026, 10, 2, 5), U.DAYS) == 1.5
    assert CAL.elapsed(start, at(2026, 10, 2, 5), U.HOURS) == 36.0
    assert CAL.elapsed(start, at(2026, 9, 30, 17, 45), U.MINUTES) == 45.0
    # Mixed tzinfos compare on the absolute clock.
    assert CAL.elapsed(datetime(2026, 9, 30, 9, tzinfo=UTC), start, U.HOURS) == 0.0


@pytest.mark.parametrize("amount", [-1.0, math.nan, math.inf])
def test_bad_amounts_rejected(amount: float) -> None:
    for unit in (U.HOURS, U.WORKING_HOURS):
        with pytest.raises(ValueError, match="finite and non-negative"):
            CAL.deadline(at(2026, 3, 2, 9), Duration(amount, unit))


# -- naive datetimes ---------------------------------------------------------------------------


def test_naive_datetimes_rejected() -> None:
    naive, aware = datetime(2026, 3, 2, 9), at(2026, 3, 2, 9)
    calls = [
        lambda: CAL.deadline(naive, wh(1)),
        lambda: CAL.deadline(naive, Duration(1, U.HOURS)),
        lambda: CAL.working_elapsed(naive, aware),
        lambda: CAL.working_elapsed(aware, naive),
        lambda: CAL.elapsed(aware, naive, U.HOURS),
        lambda: CAL.fraction_used(aware, aware, naive, U.WORKING_HOURS),
        lambda: CAL.next_working_moment(naive),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="naive datetime: 2026-03-02T09:00:00"):
            call()


# -- fraction used (ladder: remind at 80 %, supervise at 100 %, escalate at 150 %) --------------


def test_fraction_used_working() -> None:
    start = at(2026, 3, 2, 8, 30)
    due = CAL.deadline(start, wh(10))  # Mon 450 min + Tue 150 min
    assert due == at(2026, 3, 3, 11)
    assert CAL.fraction_used(start, due, at(2026, 3, 3, 9), U.WORKING_HOURS) == 0.8
    assert CAL.fraction_used(start, due, due, U.WORKING_HOURS) == 1.0
    assert CAL.fraction_used(start, due, at(2026, 3, 3, 18), U.WORKING_HOURS) == 1.5
    assert CAL.fraction_used(start, due, at(2026, 3, 4, 8, 30), U.WORKING_HOURS) == 1.5
    assert CAL.fraction_used(start, due, at(2026, 3, 1, 9), U.WORKING_HOURS) == 0.0  # before start


def test_fraction_used_natural() -> None:
    start, due = at(2026, 10, 1, 10), at(2026, 10, 1, 20)
    assert CAL.fraction_used(start, due, at(2026, 10, 1, 18), U.HOURS) == 0.8
    assert CAL.fraction_used(start, due, due, U.HOURS) == 1.0
    assert CAL.fraction_used(start, due, at(2026, 10, 2, 1), U.HOURS) == 1.5


def test_fraction_used_zero_length_windows() -> None:
    start = at(2026, 3, 2, 10)
    assert CAL.fraction_used(start, start, at(2026, 3, 2, 9), U.HOURS) == 0.0
    assert CAL.fraction_used(start, start, start, U.HOURS) == math.inf
    assert CAL.fraction_used(start, start, at(2026, 3, 2, 11), U.WORKING_HOURS) == math.inf
    # A working window with no office time in it (Saturday morning).
    sat_start, sat_due = at(2026, 3, 7, 9), at(2026, 3, 7, 11)
    assert CAL.fraction_used(sat_start, sat_due, at(2026, 3, 7, 10), U.WORKING_HOURS) == 0.0
    assert CAL.fraction_used(sat_start, sat_due, sat_due, U.WORKING_HOURS) == math.inf
    with pytest.raises(ValueError):
        CAL.fraction_used(start, at(2026, 3, 2, 9), start, U.HOURS)  # due before start


# -- office hours ------------------------------------------------------------------------------


def test_office_hours_parse() -> None:
    assert DEFAULT_OFFICE_HOURS.periods == ((time(8, 30), time(12)), (time(14), time(18)))
    assert DEFAULT_OFFICE_HOURS.minutes_per_day == 450
    assert OfficeHours.parse(" 8:30 - 12:00 , 14:00-18:00 ") == DEFAULT_OFFICE_HOURS
    assert OfficeHours.parse("09:00-17:00").minutes_per_day == 480
    assert OfficeHours.parse("08:00-12:00,12:00-13:00").minutes_per_day == 300  # touching is ok


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("08:30-12:00,", "''"),
        ("08.30-12:00", "'08.30-12:00'"),
        ("08:30", "'08:30'"),
        ("25:00-26:00", "'25:00-26:00'"),
        ("08:30-12:00,14:00-18:61", "'14:00-18:61'"),
        ("12:00-08:30", "'12:00-08:30'"),
        ("10:00-10:00", "'10:00-10:00'"),
        ("08:30-12:00,11:00-13:00", "'11:00-13:00'"),  # overlapping
        ("14:00-18:00,08:30-12:00", "'08:30-12:00'"),  # unordered
    ],
)
def test_office_hours_parse_errors(spec: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        OfficeHours.parse(spec)


def test_office_hours_direct_construction_validated() -> None:
    with pytest.raises(ValueError, match="no office periods"):
        OfficeHours(())
    with pytest.raises(ValueError, match="whole-minute"):
        OfficeHours(((time(8, 30, 15), time(12)),))


def test_custom_office_hours_and_tz() -> None:
    cal = WorkingCalendar(ZoneInfo("Asia/Shanghai"), OfficeHours.parse("09:00-17:00"))
    # Fri Oct 9 16:00–17:00 = 60 min; Sat Oct 10 (make-up) 09:00 + 420 min = 16:00.
    assert cal.deadline(at(2026, 10, 9, 16), wd(1)) == at(2026, 10, 10, 16)
    assert cal.elapsed(at(2026, 10, 9, 9), at(2026, 10, 9, 13), U.WORKING_DAYS) == 0.5


# -- fallback years and local overrides --------------------------------------------------------


def test_fallback_year_is_monday_to_friday_and_warns_once_per_year() -> None:
    cal = WorkingCalendar()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cal.is_workday(date(2027, 1, 1)) is True  # Fri; the real New Year holiday is unknown
        assert cal.is_workday(date(2027, 1, 2)) is False  # Sat
        assert cal.is_workday(date(2027, 1, 4)) is True  # Mon
        # Fri 17:00–18:00 = 1 h; weekend; Mon 08:30 + 3 h.
        assert cal.deadline(at(2027, 1, 1, 17), wh(4)) == at(2027, 1, 4, 11, 30)
        assert cal.deadline(at(2027, 6, 1, 9), wd(3)) == at(2027, 6, 4, 9)
        ours = [w for w in caught if issubclass(w.category, CalendarDataWarning)]
        assert len(ours) == 1
        assert "2027" in str(ours[0].message)
        cal.deadline(at(2027, 12, 31, 17), wh(4))  # runs into 2028
        ours = [w for w in caught if issubclass(w.category, CalendarDataWarning)]
        assert [str(w.message).split(";")[0] for w in ours] == [
            "chinese_calendar has no holiday data for 2027",
            "chinese_calendar has no holiday data for 2028",
        ]


def test_extra_days_override_statutory_and_fallback_data() -> None:
    cal = WorkingCalendar(
        extra_holidays=[date(2026, 3, 9), date(2026, 10, 10)],
        extra_workdays=[date(2026, 3, 14), date(2026, 10, 3), date(2027, 1, 2)],
    )
    assert not cal.is_workday(date(2026, 3, 9))
    assert cal.is_workday(date(2026, 3, 14))
    # Fri Mar 6 17:00 = 1 h; weekend; Mon Mar 9 extra holiday; Tue Mar 10 08:30 + 3 h.
    assert cal.deadline(at(2026, 3, 6, 17), wh(4)) == at(2026, 3, 10, 11, 30)
    # Fri Mar 13 17:00 = 1 h; Sat Mar 14 extra workday 08:30 + 3 h.
    assert cal.deadline(at(2026, 3, 13, 17), wh(4)) == at(2026, 3, 14, 11, 30)
    # The Oct 10 make-up day is cancelled: Fri Oct 9 360 min; Mon Oct 12 08:30 + 90 min.
    assert cal.deadline(at(2026, 10, 9, 10), wd(1)) == at(2026, 10, 12, 10)
    # National Day holiday Oct 3 (Sat) turned into a workday.
    assert cal.deadline(at(2026, 9, 30, 16), wh(4)) == at(2026, 10, 3, 10, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an override needs no chinese_calendar data
        assert cal.is_workday(date(2027, 1, 2))


def test_extra_days_must_not_conflict() -> None:
    with pytest.raises(ValueError, match="2026-03-09"):
        WorkingCalendar(extra_holidays=[date(2026, 3, 9)], extra_workdays=[date(2026, 3, 9)])


# -- speed -------------------------------------------------------------------------------------


def test_long_spans_are_fast() -> None:
    start = at(2026, 1, 5, 9)
    CAL.deadline(start, wd(200))  # warm the per-year cache
    began = wallclock.perf_counter()
    for i in range(2000):
        due = CAL.deadline(start + timedelta(minutes=i), wd(200))
        CAL.working_elapsed(start, due)
    assert wallclock.perf_counter() - began < 2.0  # ~20 ms in practice


# -- properties --------------------------------------------------------------------------------

LO, HI = datetime(2025, 1, 1), datetime(2027, 6, 30, 23, 59, 59, 999999)
BOUNDARIES = [time(0), time(8, 30), time(12), time(14), time(18), time(23, 59, 59, 999999)]

moments = st.one_of(
    st.datetimes(LO, HI, timezones=st.just(TZ)),
    st.builds(
        lambda d, t: datetime.combine(d, t, TZ),
        st.dates(LO.date(), HI.date()),
        st.sampled_from(BOUNDARIES),
    ),
)
working_durations = st.one_of(
    st.builds(wh, st.integers(0, 400).map(lambda q: q / 4)),
    st.builds(wh, st.floats(0, 2000, allow_nan=False)),
    st.builds(wd, st.floats(0, 300, allow_nan=False)),
)
durations = st.one_of(
    working_durations,
    st.builds(
        Duration, st.floats(0, 1000, allow_nan=False), st.sampled_from([U.MINUTES, U.HOURS, U.DAYS])
    ),
)
quiet = pytest.mark.filterwarnings("ignore::gridgov.domain.calendar.CalendarDataWarning")
props = settings(deadline=None, max_examples=200)


def span(d: Duration) -> timedelta:
    return timedelta(minutes=450 if d.unit == U.WORKING_DAYS else 60) * d.amount


def office_or_period_end(t: datetime) -> bool:
    """Inside a period after its start, up to and including its end: where deadlines land."""
    local = t.astimezone(TZ)
    if not CAL.is_workday(local.date()):
        return False
    return any(s < local.time() <= e for s, e in DEFAULT_OFFICE_HOURS.periods)


@quiet
@props
@given(moments, moments, durations)
def test_deadline_monotone_in_start(a: datetime, b: datetime, d: Duration) -> None:
    a, b = min(a, b), max(a, b)
    assert CAL.deadline(a, d) <= CAL.deadline(b, d)


@quiet
@props
@given(moments, working_durations, working_durations)
def test_deadline_monotone_in_duration(start: datetime, d1: Duration, d2: Duration) -> None:
    if span(d1) > span(d2):
        d1, d2 = d2, d1
    assert start <= CAL.deadline(start, d1) <= CAL.deadline(start, d2)


@quiet
@props
@given(moments, working_durations)
def test_working_elapsed_of_deadline_is_the_duration(start: datetime, d: Duration) -> None:
    due = CAL.deadline(start, d)
    assert CAL.working_elapsed(start, due) == span(d)
    if d.amount and span(d):
        assert office_or_period_end(due)


@quiet
@props
@given(moments, moments)
def test_deadline_of_working_elapsed_reaches_end(a: datetime, b: datetime) -> None:
    a, b = min(a, b), max(a, b)
    used = CAL.working_elapsed(a, b)
    due = CAL.deadline(a, wh(used / timedelta(hours=1)))
    assert a <= due <= b
    assert CAL.working_elapsed(due, b) == timedelta(0)
    if used and office_or_period_end(b):
        assert due == b


@quiet
@props
@given(moments, moments, moments)
def test_working_elapsed_additive(a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    assert CAL.working_elapsed(a, b) + CAL.working_elapsed(b, c) == CAL.working_elapsed(a, c)


@quiet
@props
@given(moments)
def test_next_working_moment_skips_only_idle_time(t: datetime) -> None:
    nxt = CAL.next_working_moment(t)
    assert nxt >= t
    assert CAL.working_elapsed(t, nxt) == timedelta(0)
    assert CAL.deadline(t, wh(1)) == CAL.deadline(nxt, wh(1))


@quiet
@props
@given(moments, working_durations, st.sampled_from([0.8, 1.0, 1.5]))
def test_fraction_used_at_scaled_deadline(start: datetime, d: Duration, f: float) -> None:
    if span(d) < timedelta(minutes=1):
        return
    due = CAL.deadline(start, d)
    now = CAL.deadline(start, Duration(d.amount * f, d.unit))
    assert CAL.fraction_used(start, due, now, d.unit) == pytest.approx(f, abs=1e-6)
