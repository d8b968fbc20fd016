"""Pure parts of the assessment: the vectorised office clock, months, schemes, scoring."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.assessments.facts import _PerCase
from gridgov.assessments.period import Month, Window
from gridgov.assessments.scheme import SCHEMES_DIR, LevelScheme, load_scheme, shipped
from gridgov.assessments.scoring import points, score_table
from gridgov.domain.calendar import Duration, WorkingCalendar
from gridgov.domain.enums import TimeUnit
from gridgov.domain.errors import InvalidInput
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.officetime import clock_for, from_us, span_us, to_us

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()
BASE = datetime(2026, 1, 1, tzinfo=UTC)
moments = st.integers(min_value=0, max_value=360 * 24 * 60).map(
    lambda m: BASE + timedelta(minutes=m)
)
durations = st.builds(
    Duration,
    st.sampled_from([0.5, 1, 2, 3.5, 7.5, 8, 16, 40]),
    st.sampled_from(list(TimeUnit)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(moments, moments), min_size=1, max_size=20), durations)
def test_office_clock_equals_the_calendar(
    pairs: list[tuple[datetime, datetime]], d: Duration
) -> None:
    starts = np.array([to_us(min(a, b)) for a, b in pairs], dtype=np.int64)
    ends = np.array([to_us(max(a, b)) for a, b in pairs], dtype=np.int64)
    clock = clock_for(CAL, int(starts.min()), int(ends.max()), span_us(CAL, d))
    hours = clock.working_hours(starts, ends)
    expected = [
        CAL.working_elapsed(from_us(s), from_us(e)) / timedelta(hours=1)
        for s, e in zip(starts, ends, strict=True)
    ]
    assert hours.tolist() == expected
    dues = clock.deadline(
        starts, np.full(len(starts), span_us(CAL, d)), np.full(len(starts), d.unit.is_working)
    )
    assert dues.tolist() == [to_us(CAL.deadline(from_us(s), d)) for s in starts]


def test_office_clock_landing_on_a_period_end_gives_that_end() -> None:
    start = to_us(datetime(2026, 10, 30, 17, tzinfo=TZ))  # Friday 17:00, one hour before 18:00
    clock = clock_for(CAL, start, start, span_us(CAL, Duration(1, TimeUnit.WORKING_HOURS)))
    due = clock.deadline(np.array([start]), np.array([3_600_000_000]), np.array([True]))
    assert from_us(int(due[0])) == datetime(2026, 10, 30, 18, tzinfo=TZ)


def test_months_are_local_and_parsed_strictly() -> None:
    m = Month.parse("2026-10")
    assert m.start(TZ) == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert m.end(TZ) == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert Month.parse("2026-12").next() == Month(2027, 1)
    assert Month.previous(datetime(2026, 1, 5, tzinfo=UTC), TZ) == Month(2025, 12)
    # 31 Dec 17:00 UTC is already 1 January in Shenzhen: the previous month is December.
    assert Month.previous(datetime(2026, 12, 31, 17, tzinfo=UTC), TZ) == Month(2026, 12)
    for bad in ("2026-13", "2026-1", "october", "1999-12"):
        with pytest.raises(InvalidInput) as err:
            Month.parse(bad)
        assert err.value.field == "month"
    with pytest.raises(InvalidInput, match="not started"):
        Window.of(Month(2027, 1), TZ, datetime(2026, 11, 23, tzinfo=UTC))
    running = Window.of(Month(2026, 11), TZ, datetime(2026, 11, 23, tzinfo=UTC))
    assert running.cutoff == datetime(2026, 11, 23, tzinfo=UTC) and not running.complete


def test_shipped_schemes_load_and_weigh_100() -> None:
    assert shipped() == ["default", "fenghuang"]
    for name in shipped():
        s = load_scheme(name)
        for level in ("department", "community", "grid", "street", "staff"):
            assert sum(c.weight for c in s.level(level).criteria) == 100
    d = load_scheme("default")
    assert (d.staff.local_share, d.staff.street_share) == (0.7, 0.3)
    assert {c.metric for c in d.department.criteria} == {
        "closure_rate", "on_time_closure_rate", "rework_rate", "overdue_rate",
        "extension_rate", "satisfaction_rate", "response_timeliness",
    }  # fmt: skip
    assert len(load_scheme("fenghuang").community.criteria) == 13


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (
            lambda t: t.replace("metric: closure_rate,", "metric: closure,", 1),
            "department.criteria.0.metric",
            "unknown metric 'closure'",
        ),
        (
            lambda t: t.replace("weight: 20,", "weight: -1,", 1),
            "department.criteria.0.weight",
            "greater than 0",
        ),
        (
            lambda t: t.replace("local_share: 0.7", "local_share: 0.8"),
            "staff",
            "local_share + street_share must be 1",
        ),
        (
            lambda t: t.replace("full_at: 1.0, zero_at: 0.8}", "full_at: 0.8, zero_at: 0.8}", 1),
            "department.criteria.0",
            "must differ",
        ),
        (
            lambda t: t.replace(
                "red_below: 60, yellow_below: 80", "red_below: 90, yellow_below: 80", 1
            ),
            "department.flags",
            "red_below must not exceed yellow_below",
        ),
        (
            lambda t: t.replace("volume: handled_due", "volume: due"),
            "staff.flags.volume",
            "unknown volume count 'due'",
        ),
        (lambda t: t + "\nextra_key: 1\n", "extra_key", "Extra inputs are not permitted"),
        (lambda t: t.replace("name: default", "name: Default Scheme"), "name", "pattern"),
    ],
)
def test_a_bad_scheme_names_file_and_field(
    tmp_path: Path, edit: Callable[[str], str], field: str, message: str
) -> None:
    text = (SCHEMES_DIR / "default.yaml").read_text("utf-8")
    path = tmp_path / "mine.yaml"
    path.write_text(edit(text), "utf-8")
    with pytest.raises(InvalidInput) as err:
        load_scheme(str(path))
    assert err.value.field == field
    assert str(path) in err.value.message and message in err.value.message


def test_unknown_scheme_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="shipped: default, fenghuang") as err:
        load_scheme("national")
    assert err.value.field == "scheme"
    broken = tmp_path / "broken.yaml"
    broken.write_text("department: [unclosed", "utf-8")
    with pytest.raises(InvalidInput, match="cannot read"):
        load_scheme(str(broken))
    with pytest.raises(InvalidInput, match="does not exist"):
        load_scheme(str(tmp_path / "missing.yaml"))


def test_points_are_linear_clipped_and_work_both_ways() -> None:
    v = pd.Series([0.5, 0.8, 0.9, 1.0, 1.2, np.nan])
    assert points(v, 20, 1.0, 0.8).tolist()[:5] == pytest.approx([0, 0, 10, 20, 20])
    assert np.isnan(points(v, 20, 1.0, 0.8).iloc[5])
    lower_is_better = points(pd.Series([0.0, 0.1, 0.3]), 10, 0.0, 0.2)
    assert lower_is_better.tolist() == pytest.approx([10, 5, 0])


def test_score_rank_and_flags() -> None:
    scheme = LevelScheme.model_validate({
        "criteria": [
            {"metric": "closure_rate", "weight": 60, "full_at": 1.0, "zero_at": 0.5},
            {"metric": "satisfaction_rate", "weight": 40, "full_at": 1.0, "zero_at": 0.5},
        ],
        "flags": {"red_below": 50, "yellow_below": 80, "min_volume": 2, "volume": "due"},
    })  # fmt: skip
    t = pd.DataFrame(
        {
            "due": [10, 10, 10, 10, 1],
            "closure_rate": [1.0, 0.75, 0.6, 1.0, 0.0],
            "satisfaction_rate": [1.0, 1.0, 0.5, np.nan, 1.0],
        },
        index=["a", "b", "c", "d", "e"],
    )
    out = score_table(t, scheme)
    # b: 30 + 40; c: 12 + 0; d: satisfaction unknown → 60/60; e: too few cases to rank.
    assert out["score"].tolist() == [100.0, 70.0, 12.0, 100.0, 40.0]
    assert out["rank"].tolist() == [1, 3, 4, 1, pd.NA]
    assert out["flag"].tolist() == ["", "yellow", "red", "", ""]


def test_cases_without_events_in_the_read_are_held_by_their_community() -> None:
    """A month whose read holds cases but no events (reported before the month, untouched
    since): the trail's per-case facts are an empty frame of no categories, and every case is
    held by its community's own team with no rating."""
    per = _PerCase(pd.DataFrame(columns=["holder", "last_rating"]), pd.Index([7, 9]))
    assert list(per.categories("holder", COMMUNITY_UNIT)) == [COMMUNITY_UNIT, COMMUNITY_UNIT]
    assert per.categories("last_rating").isna().all()
