"""The counting rules (docs/assessment.md): which cases are due in the month, which closed,
on time or late, who is charged, and which events and windows count in the month.

Pure functions of the extract; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridgov.assessments.extract import NEVER, LedgerExtract
from gridgov.assessments.period import Window
from gridgov.assessments.rules import rule_table, rules_for
from gridgov.assessments.trail import Trail, read_trail
from gridgov.domain.calendar import WorkingCalendar
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.officetime import OfficeClock, clock_for, to_us

PLACE = ("community_code", "grid_code", "street_code")


@dataclass
class Facts:
    window: Window
    cases: pd.DataFrame  # the due set: one row per case due in the month, with outcome flags
    events: pd.DataFrame  # events in the month, with the holder and the case's place
    windows: pd.DataFrame  # acknowledge/arrive windows decided in the month
    reported: pd.DataFrame  # cases reported in the month (cancelled ones left out)
    assisting: pd.DataFrame  # (case_id, dept) for due cases with assisting departments
    handlers: pd.DataFrame  # (case_id, actor, role) of every handling of a due case
    # Cases opened in the period (not cancelled), by local opening month, with their outcome
    # as of the cutoff: the cohort view other systems report (docs/assessment.md, "Cohorts").
    cohort: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Cases closed in the period that had no handling deadline (item ``handle: none``, or an
    # imported case without one): their own group, neither due, on time nor overdue.
    no_deadline: pd.DataFrame = field(default_factory=pd.DataFrame)


def build_clock(cal: WorkingCalendar, ex: LedgerExtract, rules: pd.DataFrame) -> OfficeClock:
    """An office clock over every moment the month's facts touch (reports, events, the
    cutoff), with room after the cutoff for acknowledge/arrive deadlines."""
    lows = [to_us(ex.window.start)]
    for values in (ex.events["at"].to_numpy(), ex.cases["opened_at"].to_numpy()):
        if values.size:
            lows.append(int(values.min()))
    margin = 0
    if len(rules):
        margin = int(max(rules["acknowledge_span"].max(), rules["arrive_span"].max(), 0))
    return clock_for(cal, min(lows), to_us(ex.window.cutoff), margin)


def derive(ex: LedgerExtract, cal: WorkingCalendar) -> Facts:
    w = ex.window
    start, cutoff = to_us(w.start), to_us(w.cutoff)
    cases = ex.cases
    table = rule_table(ex.items, cal)
    clock = build_clock(cal, ex, table)
    case_rules = rules_for(cases["item_code"], cases["item_version"], table)
    trail = read_trail(ex.events, case_rules, clock)
    per = _PerCase(trail.per_case, cases.index)
    received = per.get("received_at", NEVER)
    cancelled_at = per.get("cancelled_at", NEVER)

    opened = cases["opened_at"].to_numpy()
    handled = cases["handled_at"].to_numpy()
    closed_at = cases["closed_at"].to_numpy()
    due = cases["handle_due"].to_numpy()
    live = cancelled_at >= cutoff
    has_due = due < NEVER  # every case gets its handling deadline when opened, unless none
    closed = live & (closed_at >= start) & (closed_at < cutoff)
    due_in = (due >= start) & (due < cutoff)
    in_scope = has_due & (closed | (live & due_in))
    handled_by = handled < cutoff
    on_time = closed & has_due & (handled <= due)
    overdue = in_scope & ((handled_by & (handled > due)) | (~handled_by & (due < cutoff)))

    cf = cases.loc[in_scope, ["tier", "source", "item_code", "item_version", *PLACE]]
    charged = _charged(per.get("pending_return", False), per.categories("holder", COMMUNITY_UNIT))
    cf = cf.assign(
        closed_at=closed_at[in_scope],
        closed=closed[in_scope],
        on_time=on_time[in_scope],
        overdue=overdue[in_scope],
        extended=per.get("extended", False)[in_scope],
        reworked=per.get("reworked", False)[in_scope],
        rating=per.categories("last_rating")[in_scope],
        # The outcome is charged to whoever holds the case at the cutoff; a case sitting
        # returned (awaiting re-route) is charged to no department.
        department=charged[in_scope].remove_unused_categories(),
        handling_hours=_handling_hours(
            clock, np.where(received < NEVER, received, opened), handled, closed
        )[in_scope],
    )

    events = _month_events(trail, cases, start)
    windows = _month_windows(trail.windows, cases, start, cutoff)
    rep_mask = (opened >= start) & live
    reported = cases.loc[rep_mask, ["tier", "source", *PLACE]]
    assisting = _assisting(cf, ex.items)
    local = pd.to_datetime(opened[rep_mask], unit="us", utc=True).tz_convert(w.tz)
    handled_late = (handled < cutoff) & (handled > due)
    cohort = pd.DataFrame(
        {
            "opened_month": _year_month(local),
            "department": charged[rep_mask],
            "closed": (closed_at < cutoff)[rep_mask],
            "on_time": ((closed_at < cutoff) & has_due & (handled <= due))[rep_mask],
            "overdue": (handled_late | ((handled >= cutoff) & (due < cutoff)))[rep_mask],
            "no_deadline": ~has_due[rep_mask],
        }
    )
    free = closed & ~has_due
    no_deadline = cases.loc[free, list(PLACE)].assign(department=charged[free])
    return Facts(
        w, cf, events, windows, reported, assisting, _handlers(trail, cf), cohort, no_deadline
    )


class _PerCase:
    """Trail facts aligned with the cases; a case without events in the read (e.g. reported
    before the month and untouched since) gets the default. Avoids reindex, which would turn
    int64 columns with gaps into floats (and NEVER into an overflow)."""

    def __init__(self, per_case: pd.DataFrame, index: pd.Index) -> None:
        self.frame = per_case
        self.pos = per_case.index.get_indexer(index)

    def get(self, column: str, default: object) -> np.ndarray[Any, np.dtype[Any]]:
        dtype: type = (
            bool if isinstance(default, bool) else np.int64 if isinstance(default, int) else object
        )
        out: np.ndarray[Any, np.dtype[Any]] = np.full(len(self.pos), default, dtype=dtype)
        found = self.pos >= 0
        out[found] = self.frame[column].to_numpy()[self.pos[found]]
        return out

    def categories(self, column: str, default: str | None = None) -> pd.Categorical:
        """A categorical column aligned with the cases (``default`` where the trail says
        nothing, missing when None): codes are moved, never a string per case."""
        values = self.frame[column]  # categorical, unless the trail had no events at all
        col = values.array if isinstance(values.dtype, pd.CategoricalDtype) else None
        if not isinstance(col, pd.Categorical):
            col = pd.Categorical(values)
        names = col.categories
        if default is not None and default not in names:
            names = names.append(pd.Index([default], dtype=names.dtype)).sort_values()
        remap = np.append(names.get_indexer(col.categories), -1)
        fill = -1 if default is None else int(names.get_loc(default))
        codes = np.full(len(self.pos), fill, dtype=np.intp)
        found = self.pos >= 0
        codes[found] = remap[col.codes[self.pos[found]]]
        return pd.Categorical.from_codes(codes, categories=names)


def _charged(
    pending_return: np.ndarray[Any, np.dtype[Any]], holder: pd.Categorical
) -> pd.Categorical:
    """The holder at the cutoff, or missing for a case awaiting re-route after a return."""
    codes = np.where(pending_return.astype(bool), -1, holder.codes)
    return pd.Categorical.from_codes(codes, categories=holder.categories)


def _year_month(local: pd.DatetimeIndex) -> pd.Categorical:
    """ "YYYY-MM" of each local moment, formatted once per month rather than per case."""
    ym = np.asarray(local.year * 100 + local.month, dtype=np.int64)
    months, codes = np.unique(ym, return_inverse=True)
    labels = pd.Index([f"{m // 100:04d}-{m % 100:02d}" for m in months], dtype="str")
    return pd.Categorical.from_codes(codes.reshape(-1), categories=labels)


def _handling_hours(
    clock: OfficeClock,
    received: np.ndarray[tuple[int], np.dtype[np.int64]],
    handled: np.ndarray[tuple[int], np.dtype[np.int64]],
    closed: np.ndarray[tuple[int], np.dtype[np.bool_]],
) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    """Working hours from receipt (last dispatch/re-route, or the report) to the final
    handling, for closed cases; NaN elsewhere."""
    out = np.full(len(handled), np.nan)
    # Bad timestamps (the audit flags them) get no handling time instead of an error.
    ok = closed & (received >= clock.lo) & (received <= handled) & (handled < clock.hi)
    out[ok] = clock.working_hours(received[ok], handled[ok])
    return out


def _month_events(trail: Trail, cases: pd.DataFrame, start: int) -> pd.DataFrame:
    ev = trail.events
    ev = ev[ev["at"].to_numpy() >= start]
    place = cases[[*PLACE, "tier"]].reindex(ev["case_id"].to_numpy())
    return ev.assign(**{c: place[c].array for c in (*PLACE, "tier")}).reset_index(drop=True)


def _month_windows(w: pd.DataFrame, cases: pd.DataFrame, start: int, cutoff: int) -> pd.DataFrame:
    """A window counts in the month its outcome became known: the acknowledgement if on
    time, else the deadline (so a late answer never counts twice). A window ended by a
    return or cancellation before that moment does not count."""
    out = w.copy()
    for prefix, due_col in (("ack", "ack_due"), ("arrive", "arrive_due")):
        got = out[f"{prefix}_at"].to_numpy()
        due = out[due_col].to_numpy()
        decided = np.minimum(got, due)
        counted = (
            (due < NEVER)
            & (decided >= start)
            & (decided < cutoff)
            & (out["end_at"].to_numpy() >= decided)
        )
        out[f"{prefix}_counted"] = counted
        out[f"{prefix}_on_time"] = counted & (got <= due)
        out[f"{prefix}_late"] = counted & (got > due) & (got < NEVER)
        out[f"{prefix}_missed"] = counted & (got == NEVER)
    keep = out["ack_counted"].to_numpy() | out["arrive_counted"].to_numpy()
    out = out[keep]
    place = cases[list(PLACE)].reindex(out["case_id"].to_numpy())
    return out.assign(**{c: place[c].array for c in PLACE}).reset_index(drop=True)


def _handlers(trail: Trail, cf: pd.DataFrame) -> pd.DataFrame:
    ev = trail.events
    mask = (ev["kind"] == "handled").to_numpy() & ev["case_id"].isin(cf.index).to_numpy()
    sub = ev.loc[mask, ["case_id", "actor", "role"]]
    return pd.DataFrame(
        {
            "case_id": sub["case_id"].to_numpy(),
            "actor": sub["actor"].array,  # categorical, as read
            "role": sub["role"].array,
        }
    )


def _assisting(cf: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Assisting departments of each due case, from its item version (cases copy them at
    opening); a department is not its own assistant when the case ended up with it."""
    empty = pd.DataFrame({"case_id": [], "dept": []})
    if items.empty or cf.empty:
        return empty
    table = items.loc[items["assisting"].map(len) > 0, ["code", "version", "assisting"]]
    cf = cf[cf["item_code"].isin(table["code"]).to_numpy()]  # only items that have assistants
    if cf.empty:
        return empty
    keys = pd.DataFrame(
        {
            "case_id": cf.index.to_numpy(),
            "item_code": cf["item_code"].astype(str).to_numpy(),
            "item_version": cf["item_version"].to_numpy(),
            "charged": cf["department"].astype(object).to_numpy(),
        }
    )
    m = keys.merge(table, left_on=["item_code", "item_version"], right_on=["code", "version"])
    if m.empty:
        return empty
    m = m.explode("assisting")
    m = m[m["assisting"].to_numpy() != m["charged"].to_numpy()]
    return pd.DataFrame({"case_id": m["case_id"].to_numpy(), "dept": m["assisting"].to_numpy()})
