"""Run one month's assessment: read the ledger, derive facts, count, score."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from gridgov.assessments.extract import LedgerExtract, read_ledger
from gridgov.assessments.facts import Facts, derive
from gridgov.assessments.kpi import LEVELS, department_units, territory_units, unit_table
from gridgov.assessments.period import Period, Window
from gridgov.assessments.scheme import Scheme
from gridgov.assessments.scoring import score_table
from gridgov.assessments.staff import score_staff, staff_table
from gridgov.domain.calendar import WorkingCalendar

Progress = Callable[[str], None]
STAGES = ("read ledger", "derive facts", "count and rate", "score and rank")
TABLES = ("department", "community", "grid", "street", "staff")


@dataclass
class Assessment:
    window: Window
    scheme: Scheme
    tables: dict[str, pd.DataFrame]  # TABLES, each scored, ranked and flagged
    trend: pd.DataFrame  # per local day: closures, on time, on-time rate
    totals: dict[str, float]
    territory: pd.DataFrame  # the ledger's territory units (for maps and names)
    timings: dict[str, float] = field(default_factory=dict)
    working_time: str = ""  # which calendar data counted the working hours (reports say it)
    cohort: pd.DataFrame = field(default_factory=pd.DataFrame)  # by opening month, see cohorts

    @property
    def month(self) -> Period:
        return self.window.month


def assess(
    engine: Engine,
    calendar: WorkingCalendar,
    month: Period,
    scheme: Scheme,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Assessment:
    window = Window.of(month, calendar.tz, now)
    timings: dict[str, float] = {}
    step = partial(_stage, progress=progress, timings=timings)
    with step("read ledger"):
        ex = read_ledger(engine, window)
    with step("derive facts"):
        facts = derive(ex, calendar)
    with step("count and rate"):
        raw = count_tables(facts, ex)
    with step("score and rank"):
        tables = score_tables(raw, scheme)
    # Deadlines of the month's cases can run into the next year.
    years = range(window.start.astimezone(calendar.tz).year, window.end.year + 2)
    return Assessment(
        window,
        scheme,
        tables,
        trend(facts),
        totals(facts, raw),
        ex.territory,
        timings,
        calendar.describe(years),
        cohort_table(facts),
    )


def count_tables(facts: Facts, ex: LedgerExtract) -> dict[str, pd.DataFrame]:
    units = {
        "department": department_units(ex.departments),
        **{k: territory_units(ex.territory, k) for k in ("community", "grid", "street")},
    }
    out = {name: unit_table(facts, LEVELS[name], units[name]) for name in units}
    out["staff"] = staff_table(facts)
    return out


def score_tables(raw: dict[str, pd.DataFrame], scheme: Scheme) -> dict[str, pd.DataFrame]:
    scored = {
        k: score_table(raw[k], scheme.level(k))
        for k in ("department", "community", "grid", "street")
    }
    scored["staff"] = score_staff(raw["staff"], scheme.staff, scored["grid"], scored["community"])
    return scored


def cohort_table(facts: Facts) -> pd.DataFrame:
    """By local opening month and the department holding the case at the cutoff: cases
    opened, closed, closed on time, overdue, without a handling deadline and still open, and
    the on-time closure rate over the cases opened with a deadline — the count other systems
    report (docs/assessment.md, "Cohorts")."""
    c = facts.cohort
    cols = [
        "opened_month",
        "department",
        "opened",
        "closed",
        "closed_on_time",
        "overdue",
        "no_deadline",
    ]
    if c.empty:
        return pd.DataFrame(columns=[*cols, "still_open", "on_time_closure_rate"])
    g = (
        c.assign(department=_filled(c["department"], "(awaiting re-route)"), opened=1)
        .groupby(["opened_month", "department"], observed=True)
        .agg(
            opened=("opened", "sum"),
            closed=("closed", "sum"),
            closed_on_time=("on_time", "sum"),
            overdue=("overdue", "sum"),
            no_deadline=("no_deadline", "sum"),
        )
        .reset_index()
    )
    for key in ("opened_month", "department"):  # categorical keys (facts) come out as text
        if isinstance(g[key].dtype, pd.CategoricalDtype):
            g[key] = g[key].astype(str)
    g["still_open"] = g["opened"] - g["closed"]
    g["on_time_closure_rate"] = g["closed_on_time"] / (g["opened"] - g["no_deadline"]).where(
        lambda n: n > 0
    )
    return g


def _filled(values: pd.Series, label: str) -> pd.Series:
    """Missing values as ``label``; a categorical keeps its categories sorted (a groupby on it
    then orders rows as one on the strings would)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.fillna(label)
    cats = values.cat.categories
    if label not in cats:
        values = values.cat.set_categories(cats.append(pd.Index([label], dtype=cats.dtype)))
    values = values.fillna(label)
    return values.cat.set_categories(values.cat.categories.sort_values())


def trend(facts: Facts) -> pd.DataFrame:
    """Closures per local day of the month and the share handled on time."""
    cf = facts.cases[facts.cases["closed"].to_numpy()]
    days = pd.to_datetime(cf["closed_at"].to_numpy(), unit="us", utc=True)
    # Grouped by the local midnight (integers); a date object per day, not per closure.
    midnight = days.tz_convert(facts.window.tz).tz_localize(None).normalize()
    t = pd.DataFrame(
        {"day": midnight.to_numpy(), "closed": 1, "on_time": cf["on_time"].to_numpy(dtype=int)}
    )
    t = t.groupby("day").sum()
    t.index = pd.Index(pd.DatetimeIndex(t.index).date, name="day")
    t["on_time_rate"] = t["on_time"] / t["closed"]
    return t.reset_index()


def totals(facts: Facts, raw: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Month totals over the whole territory (the community table partitions every case)."""
    c = raw["community"]
    due = int(c["due"].sum())
    out: dict[str, float] = {
        k: int(c[k].sum())
        for k in (
            "reported",
            "due",
            "closed",
            "closed_on_time",
            "overdue",
            "closed_no_deadline",
            "handled",
            "rated",
            "returns",
        )
    }
    out["closure_rate"] = out["closed"] / due if due else float("nan")
    out["on_time_closure_rate"] = out["closed_on_time"] / due if due else float("nan")
    hours = facts.cases["handling_hours"].dropna()
    out["mean_handling_hours"] = float(hours.mean()) if len(hours) else float("nan")
    out["unassigned_due"] = int(facts.cases["department"].isna().sum())
    out["staff"] = len(raw["staff"])
    return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in out.items()}


@contextmanager
def _stage(name: str, progress: Progress | None, timings: dict[str, float]) -> Iterator[None]:
    """Time a stage and tell the progress callback (the CLI's progress bar) it started."""
    if progress:
        progress(name)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - t0
