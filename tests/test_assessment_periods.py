"""Quarters (季度) and years (年度) are counted as months are; the cohort view counts the
cases opened in each month, which differs from the due set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gridgov.assessments.engine import assess
from gridgov.assessments.period import Month, Quarter, Year, months_of, parse_period
from gridgov.assessments.scheme import load_scheme
from gridgov.domain.errors import InvalidInput
from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime
from tests.test_assessment_sample import build_october, sample_ledger

AFTER = datetime(2027, 1, 5, tzinfo=UTC)


def test_periods_parse_and_refuse_naming_the_field() -> None:
    assert parse_period("2026-10") == Month(2026, 10)
    assert parse_period("2026-q4") == Quarter(2026, 4)
    assert parse_period("2026") == Year(2026)
    assert [m.label for m in months_of(Quarter(2026, 4))] == ["2026-10", "2026-11", "2026-12"]
    assert len(months_of(Year(2026))) == 12
    for bad in ("2026-Q5", "26", "2026-13", "Q4"):
        with pytest.raises(InvalidInput) as exc:
            parse_period(bad)
        assert exc.value.field in ("period", "month")


def test_quarter_and_year_count_the_months_cases_and_the_cohort_by_opening_month(
    runtime: Runtime, catalog: Catalog
) -> None:
    lg = sample_ledger(runtime, catalog)
    build_october(lg)
    scheme = load_scheme()

    def totals(p: Month | Quarter | Year) -> dict[str, float]:
        return assess(runtime.engine, runtime.calendar, p, scheme, now=AFTER).totals

    months = [totals(m) for m in months_of(Quarter(2026, 4))]
    quarter = totals(Quarter(2026, 4))
    # Reports and closures are events of one month each: the quarter is their sum.
    for k in ("reported", "closed", "handled", "rated"):
        assert quarter[k] == sum(m[k] for m in months), k
    # A case overdue at the end of one month and closed (late) in the next is due in both
    # months but once in the quarter: the quarter's due set is at most the months' sum.
    assert quarter["due"] <= sum(m["due"] for m in months)
    year = totals(Year(2026))
    assert year["reported"] >= quarter["reported"] and year["closed"] >= quarter["closed"]

    q = assess(runtime.engine, runtime.calendar, Quarter(2026, 4), scheme, now=AFTER)
    assert q.month.label == "2026-Q4"
    cohort = q.cohort.groupby("opened_month")["opened"].sum()
    # Every case opened in October is in October's cohort, however its due month falls.
    assert cohort["2026-10"] == months[0]["reported"]
    assert (q.cohort["still_open"] == q.cohort["opened"] - q.cohort["closed"]).all()
    assert set(q.cohort["opened_month"]) <= {"2026-10", "2026-11", "2026-12"}
