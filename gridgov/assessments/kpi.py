"""Counts per unit (department, community, grid, street) and the rates made from them.

Every formula is in docs/assessment.md; ``RATES`` is the single place they are written down in
code. A rate with a zero denominator is NaN ("no cases"), never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridgov.assessments.codes import codes_of
from gridgov.assessments.facts import Facts
from gridgov.domain.lifecycle import COMMUNITY_UNIT

COUNTS = (
    "reported",
    "reported_field_fix",
    "reported_patrol",
    "received",
    "due",
    "closed",
    "closed_on_time",
    "overdue",
    "closed_no_deadline",
    "extended",
    "reworked_cases",
    "handled",
    "reworks",
    "returns",
    "returns_accepted",
    "extension_requests",
    "extensions_granted",
    "extensions_refused",
    "rated",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
    "ack_on_time",
    "ack_late",
    "ack_missed",
    "arrive_on_time",
    "arrive_late",
    "arrive_missed",
    "assist_cases",
    "assists",
)
TIMES = ("mean_handling_hours", "p90_handling_hours")


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype(float)


Formula = Callable[[pd.DataFrame], pd.Series]
RATES: dict[str, Formula] = {
    "closure_rate": lambda t: _ratio(t["closed"], t["due"]),  # 结案率
    "on_time_closure_rate": lambda t: _ratio(t["closed_on_time"], t["due"]),  # 按期结案率
    "overdue_rate": lambda t: _ratio(t["overdue"], t["due"]),  # 超期率
    "extension_rate": lambda t: _ratio(t["extended"], t["due"]),  # 延期率
    "rework_rate": lambda t: _ratio(t["reworks"], t["handled"]),  # 返工率
    "response_timeliness": lambda t: _ratio(
        t["ack_on_time"], t["ack_on_time"] + t["ack_late"] + t["ack_missed"]
    ),  # 签收及时率
    "arrival_timeliness": lambda t: _ratio(
        t["arrive_on_time"], t["arrive_on_time"] + t["arrive_late"] + t["arrive_missed"]
    ),  # 到场及时率
    "satisfaction_rate": lambda t: _ratio(
        t["satisfied"] + t["basically_satisfied"], t["rated"]
    ),  # 满意率
    "return_rate": lambda t: _ratio(t["returns"], t["received"]),  # 退单率
    "return_acceptance_rate": lambda t: _ratio(t["returns_accepted"], t["returns"]),
    "field_fix_share": lambda t: _ratio(t["reported_field_fix"], t["reported"]),
    "patrol_share": lambda t: _ratio(t["reported_patrol"], t["reported"]),
}
METRICS = (*COUNTS, *TIMES, *RATES)
# Rates that mean nothing for a level (a department reports nothing; a place assists nobody).
NOT_FOR = {
    "department": {
        "reported",
        "reported_field_fix",
        "reported_patrol",
        "field_fix_share",
        "patrol_share",
    },
    "territory": {"assist_cases", "assists"},
}


@dataclass(frozen=True)
class Level:
    """How a table groups: the key column of due cases, of events and of windows."""

    name: str  # department | community | grid | street
    case_key: str
    event_key: str
    window_key: str

    @property
    def kind(self) -> str:
        return "department" if self.name == "department" else "territory"

    def metrics(self) -> tuple[str, ...]:
        return tuple(m for m in METRICS if m not in NOT_FOR[self.kind])


LEVELS = {
    "department": Level("department", "department", "holder", "dept"),
    "community": Level("community", "community_code", "community_code", "community_code"),
    "grid": Level("grid", "grid_code", "grid_code", "grid_code"),
    "street": Level("street", "street_code", "street_code", "street_code"),
}


def _count(frame: pd.DataFrame, key: str, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """Sum each indicator column per value of ``frame[key]`` (missing keys dropped): integer
    codes (a categorical's own, else one factorize) and a bincount per column, much cheaper
    than a many-column groupby. A category no row has gets zeros, as a unit without cases does
    in ``unit_table``."""
    codes, uniques = codes_of(frame[key])
    valid = codes >= 0
    k = codes[valid]
    data = {name: _sum_by(k, np.asarray(v)[valid], len(uniques)) for name, v in cols.items()}
    return pd.DataFrame(data, index=pd.Index([str(u) for u in uniques], dtype=object))


def _sum_by(codes: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
    """Per code, the sum of ``v`` (0/1 flags or integers); flags count the codes where they
    hold (integer bincount: no float weights)."""
    if v.dtype == bool:
        return np.bincount(codes[v], minlength=size).astype(np.int64)
    return np.bincount(codes, weights=v, minlength=size).astype(np.int64)


EVENT_KINDS = {  # count column: the event kinds it counts
    "received": ("dispatched", "rerouted"),
    "handled": ("handled",),
    "reworks": ("review_failed", "reopened"),
    "returns": ("returned",),
    "extension_requests": ("extension_requested",),
    "extensions_granted": ("extension_granted",),
    "extensions_refused": ("extension_refused",),
    "rated": ("rated",),
}
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


def _event_counts(f: Facts, level: Level) -> pd.DataFrame:
    """Per unit: one histogram of (kind, unit) over the month's events gives every per-kind
    count; ratings and accepted returns are two more (three bincounts, not one per column)."""
    ev = f.events
    kind = ev["kind"].astype("category")
    codes, uniques = codes_of(ev[level.event_key])
    size = len(uniques)
    kinds = kind.cat.categories
    k = kind.cat.codes.to_numpy().astype(np.intp)
    ok = (codes >= 0) & (k >= 0)
    hist = np.bincount(k[ok] * size + codes[ok], minlength=len(kinds) * size).reshape(
        len(kinds), size
    )
    zero = np.zeros(size, dtype=np.int64)
    data = {
        col: sum((hist[kinds.get_loc(n)] for n in names if n in kinds), zero).astype(np.int64)
        for col, names in EVENT_KINDS.items()
    }
    data["returns_accepted"] = _sum_by(codes[ok], ev["accepted"].to_numpy(dtype=bool)[ok], size)
    rated = ok & (kind == "rated").to_numpy()
    rating = ev["detail"].astype("category")
    r = rating.cat.codes.to_numpy().astype(np.intp)[rated]
    names = rating.cat.categories
    by_rating = np.bincount(
        np.where(r >= 0, r * size + codes[rated], len(names) * size),  # no rating: dropped
        minlength=(len(names) + 1) * size,
    ).reshape(len(names) + 1, size)
    for name in RATINGS:
        data[name] = by_rating[names.get_loc(name)].astype(np.int64) if name in names else zero
    cols = [*list(EVENT_KINDS)[:4], "returns_accepted", *list(EVENT_KINDS)[4:], *RATINGS]
    out = pd.DataFrame(
        {c: data[c] for c in cols}, index=pd.Index([str(u) for u in uniques], dtype=object)
    )
    if level.kind == "department":  # an assisting department reports under its own code
        assisted = ev[(kind == "assisted").to_numpy()]
        extra = _count(assisted, "department", {"assists": np.ones(len(assisted), dtype=int)})
        out = out.join(extra, how="outer")
    return out


def _case_counts(f: Facts, level: Level) -> pd.DataFrame:
    cf = f.cases
    cols = {
        "due": np.ones(len(cf), dtype=int),
        "closed": cf["closed"].to_numpy(dtype=bool),
        "closed_on_time": cf["on_time"].to_numpy(dtype=bool),
        "overdue": cf["overdue"].to_numpy(dtype=bool),
        "extended": cf["extended"].to_numpy(dtype=bool),
        "reworked_cases": cf["reworked"].to_numpy(dtype=bool),
    }
    out = _count(cf, level.case_key, cols)
    codes, uniques = codes_of(cf[level.case_key])
    hours = cf["handling_hours"].to_numpy()
    known = (codes >= 0) & ~np.isnan(hours)
    g = pd.Series(hours[known]).groupby(codes[known])  # integer keys: no string hashing
    times = pd.DataFrame({"mean_handling_hours": g.mean(), "p90_handling_hours": g.quantile(0.9)})
    at = times.index.to_numpy(dtype=np.intp)
    times.index = pd.Index([str(u) for u in uniques[at]], dtype=object)
    out = out.join(times, how="outer")
    if level.kind == "department" and not f.assisting.empty:
        a = f.assisting
        extra = _count(a, "dept", {"assist_cases": np.ones(len(a), dtype=int)})
        out = out.join(extra, how="outer")
    return out


def _window_counts(f: Facts, level: Level) -> pd.DataFrame:
    w = f.windows
    cols = {
        c: w[c].to_numpy(dtype=bool)
        for c in (
            "ack_on_time",
            "ack_late",
            "ack_missed",
            "arrive_on_time",
            "arrive_late",
            "arrive_missed",
        )
    }
    return _count(w, level.window_key, cols)


def _reported_counts(f: Facts, level: Level) -> pd.DataFrame:
    r = f.reported
    cols = {
        "reported": np.ones(len(r), dtype=int),
        "reported_field_fix": (r["tier"] == 1).to_numpy(),
        "reported_patrol": (r["source"].astype(object) == "patrol").to_numpy(),
    }
    return _count(r, level.case_key, cols)


def _no_deadline_counts(f: Facts, level: Level) -> pd.DataFrame:
    """Cases closed in the period without a handling deadline: their own group (not due)."""
    nd = f.no_deadline
    if nd.empty:
        return pd.DataFrame(index=pd.Index([], dtype=object))
    return _count(nd, level.case_key, {"closed_no_deadline": np.ones(len(nd), dtype=int)})


def _column(table: pd.DataFrame, name: str, default: float) -> pd.Series:
    return table[name] if name in table.columns else pd.Series(default, index=table.index)


def unit_table(f: Facts, level: Level, units: pd.DataFrame) -> pd.DataFrame:
    """One row per unit in ``units`` (code, name_zh, name_en): counts, times and rates."""
    parts = [
        _case_counts(f, level),
        _no_deadline_counts(f, level),
        _event_counts(f, level),
        _window_counts(f, level),
    ]
    if level.kind == "territory":
        parts.append(_reported_counts(f, level))
    table = pd.DataFrame(index=pd.Index(units["code"].astype(str), name="code"))
    table["name_zh"] = units["name_zh"].to_numpy()
    table["name_en"] = units["name_en"].to_numpy()
    for part in parts:
        table = table.join(part, how="left")
    wanted = level.metrics()
    for c in COUNTS:
        if c in wanted:
            table[c] = _column(table, c, 0).fillna(0).astype(np.int64)
    for c in TIMES:
        table[c] = _column(table, c, np.nan).astype(float)
    for name, formula in RATES.items():
        if name in wanted:
            table[name] = formula(table)
    return table[["name_zh", "name_en", *(m for m in wanted)]]


def department_units(departments: pd.DataFrame) -> pd.DataFrame:
    """Functional departments; the community's own team is assessed as its community."""
    return departments[departments["code"] != COMMUNITY_UNIT].sort_values("code")


def territory_units(territory: pd.DataFrame, kind: str) -> pd.DataFrame:
    return territory[territory["kind"] == kind].sort_values("code")
