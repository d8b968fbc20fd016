"""Columns the expectations test: each answers one auditor's question per case or event.

Pure pandas/numpy over the audit extract. Deadlines are recomputed from the trail with the
working-time calendar (vectorised), exactly as the case book set them:

* acknowledge/arrive: from the last event that (re)started the work — report, dispatch,
  return (the dispatcher's window) or re-route;
* handle: from the last such event or the last rework (failed review, reopening), then every
  granted extension after it, in order, each added to the deadline before it;
* review: from the last handling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.assessments.audit.extract import AuditExtract
from gridgov.assessments.audit.falsification import case_checks, event_checks
from gridgov.assessments.extract import NEVER
from gridgov.assessments.rules import NO_LIMIT, rule_table, rules_for
from gridgov.domain.calendar import Duration, WorkingCalendar
from gridgov.domain.enums import TimeUnit
from gridgov.domain.officetime import OfficeClock, clock_for, span_us, to_us

I64 = npt.NDArray[np.int64]
START_WORK = ("created", "dispatched", "returned", "rerouted")
REWORK = ("review_failed", "reopened")
CASE_NO = r"^C\d{8}-\d{6}$"


@dataclass
class AuditFrames:
    cases: pd.DataFrame  # one row per case, with derived check columns
    closed: pd.DataFrame  # the closed cases (fields every closed case must have)
    events: pd.DataFrame  # one row per event, with the gap to the previous one
    reference: dict[str, list[str]]  # known codes by kind


def _datetimes(us: I64) -> pd.Series:
    """µs → naive-UTC datetimes (NaT for NEVER), the form expectations compare."""
    s = pd.Series(us, dtype="int64")
    return pd.to_datetime(s.where(s != NEVER), unit="us")


def _last_per_case(
    mask: npt.NDArray[np.bool_], ev: pd.DataFrame, n_cases: int, slot: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    """Per case slot, the event position of its last event where ``mask`` holds, or -1."""
    out = np.full(n_cases, -1, dtype=np.intp)
    pos = np.flatnonzero(mask & (slot >= 0))
    out[slot[pos]] = pos  # positions ascend, so the last write per slot wins
    return out


def expected_deadlines(
    ex: AuditExtract, cal: WorkingCalendar, cases: pd.DataFrame
) -> dict[str, I64]:
    """Recompute acknowledge/arrive/handle/review deadlines per case (µs; NEVER = none)."""
    ev = ex.events
    n = len(cases)
    out = {
        k: np.full(n, NEVER, dtype=np.int64) for k in ("acknowledge", "arrive", "handle", "review")
    }
    if ev.empty or n == 0:
        return out
    table = rule_table(ex.items, cal)
    r = rules_for(cases["item_code"], cases["item_version"], table)
    slot = pd.Index(cases["id"]).get_indexer(ev["case_id"].to_numpy())
    at = ev["at"].to_numpy()
    kind = ev["kind"].astype(object).to_numpy()
    clock = _clock(cal, ex, table)

    anchor = _last_per_case(np.isin(kind, START_WORK), ev, n, slot)
    for limit in ("acknowledge", "arrive"):
        out[limit] = _deadline(clock, at, anchor, r, limit)
    handled = _last_per_case(kind == "handled", ev, n, slot)
    out["review"] = _deadline(clock, at, handled, r, "review")

    rework = _last_per_case(np.isin(kind, (*START_WORK, *REWORK)), ev, n, slot)
    due = _deadline(clock, at, rework, r, "handle")
    # Extensions after the last (re)start, applied in order: round k applies each case's k-th.
    case_ids = ev["case_id"].to_numpy()
    after = np.arange(len(ev)) > rework[slot]
    ext = (kind == "extension_granted") & after & (slot >= 0)
    rank = pd.Series(ext).groupby(case_ids).cumsum().to_numpy()
    for k in range(1, int(rank[ext].max(initial=0)) + 1):
        pos = np.flatnonzero(ext & (rank == k))
        s = slot[pos]
        ok = due[s] < NEVER
        spans, working = _extension_spans(cal, ev, pos)
        new = clock.deadline(due[s][ok], spans[ok], working[ok])
        due[s[ok]] = new
    out["handle"] = due
    return out


def _clock(cal: WorkingCalendar, ex: AuditExtract, table: pd.DataFrame) -> OfficeClock:
    at = ex.events["at"].to_numpy()
    lo, hi = int(at.min()), int(at.max())
    spans = (
        [int(table[f"{x}_span"].max()) for x in ("acknowledge", "arrive", "handle", "review")]
        if len(table)
        else [0]
    )
    amounts = ex.events["ext_amount"].fillna(0).clip(lower=0)
    if (amounts > 0).any():  # a case's extensions stack: allow for the longest chain, in days
        chain = float(amounts.groupby(ex.events["case_id"]).sum().max())
        spans.append(int(chain + 1) * cal.office_hours.minutes_per_day * 60_000_000)
    return clock_for(cal, lo, max(hi, to_us(ex.window.cutoff)), sum(max(s, 0) for s in spans))


def _deadline(
    clock: OfficeClock, at: I64, pos: npt.NDArray[np.intp], r: pd.DataFrame, limit: str
) -> I64:
    span = r[f"{limit}_span"].to_numpy(dtype=np.int64)
    working = r[f"{limit}_working"].to_numpy(dtype=bool)
    out = np.full(len(pos), NEVER, dtype=np.int64)
    ok = (pos >= 0) & (span != NO_LIMIT)
    out[ok] = clock.deadline(at[pos[ok]], span[ok], working[ok])
    return out


def _extension_spans(
    cal: WorkingCalendar, ev: pd.DataFrame, pos: npt.NDArray[np.intp]
) -> tuple[I64, npt.NDArray[np.bool_]]:
    spans = np.zeros(len(pos), dtype=np.int64)
    working = np.zeros(len(pos), dtype=bool)
    for i, (amount, unit) in enumerate(
        zip(ev["ext_amount"].to_numpy()[pos], ev["ext_unit"].to_numpy()[pos], strict=True)
    ):
        try:
            d = Duration(float(amount), TimeUnit(unit))
        except (TypeError, ValueError):
            continue  # a malformed grant is a 0-length extension: the deadline check fails
        spans[i], working[i] = span_us(cal, d), d.unit.is_working
    return spans, working


def build_frames(ex: AuditExtract, cal: WorkingCalendar) -> AuditFrames:
    ev = event_checks(ex.events, ex.cases)
    cases = case_checks(ex.cases, ev)
    n = len(cases)
    slot = pd.Index(cases["id"]).get_indexer(ev["case_id"].to_numpy())
    kind = ev["kind"].astype(object).to_numpy()
    seq = ev["seq"].to_numpy()
    case_ids = ev["case_id"].to_numpy()

    # Trails: seq 1..n without gaps, starting with the report; the last event's state is the
    # case's state; events in time order.
    g = pd.DataFrame({"slot": slot, "seq": seq, "first": (seq == 1) & (kind == "created")})
    per = (
        g[g["slot"] >= 0]
        .groupby("slot")
        .agg(n=("seq", "size"), lo=("seq", "min"), hi=("seq", "max"), first=("first", "any"))
        .reindex(range(n))
    )
    cases["trail_complete"] = (
        (per["lo"] == 1) & (per["hi"] == per["n"]) & per["first"].fillna(False)
    ).to_numpy(dtype=bool)
    last = _last_per_case(np.ones(len(ev), dtype=bool), ev, n, slot) if len(ev) else np.full(n, -1)
    last_status = np.where(last >= 0, ev["to_status"].to_numpy()[np.maximum(last, 0)], None)
    cases["status_matches_trail"] = last_status == cases["status"].to_numpy()

    # Closure: a passed review, or the field-fix rule (closed straight from handled and not
    # drawn for a spot check).
    passed = np.zeros(n, dtype=bool)
    passed[slot[(kind == "review_passed") & (slot >= 0)]] = True
    closed_ev = _last_per_case(kind == "closed", ev, n, slot)
    from_handled = np.where(
        closed_ev >= 0, ev["from_status"].to_numpy()[np.maximum(closed_ev, 0)] == "handled", False
    )
    field_fix = (
        (cases["tier"].to_numpy() == 1)
        & from_handled
        & (
            cases["spot_check"].astype(object).to_numpy() == False  # noqa: E712 (None is not False)
        )
    )
    # Imported history was reviewed (or not) in the source system: its closure says so.
    imported_close = np.zeros(n, dtype=bool)
    imported_close[slot[(kind == "closed") & ev["imported"].to_numpy(dtype=bool) & (slot >= 0)]] = (
        True
    )
    is_closed = cases["status"].to_numpy() == "closed"
    cases["closure_reviewed"] = np.where(is_closed, passed | field_fix | imported_close, True)

    cases["item_version_valid"] = _item_valid(cases, ex.items, cal)
    expected = expected_deadlines(ex, cal, cases)
    for limit, col in (
        ("acknowledge", "acknowledge_due"),
        ("arrive", "arrive_due"),
        ("handle", "handle_due"),
        ("review", "review_due"),
    ):
        cases[f"{limit}_due_matches"] = expected[limit] == cases[col].to_numpy()
        # A deadline kept from an imported source is its own; a source row without one has
        # no limits at all (exchange/prepare.py, mapping ``missing_deadline: none``).
        own = cases["deadline_source"].to_numpy() == "source"
        if limit != "handle":
            own &= (cases["handle_due"].to_numpy() == NEVER) & (cases[col].to_numpy() == NEVER)
        cases[f"{limit}_due_matches"] |= own
        cases[f"expected_{col}"] = _datetimes(expected[limit]).to_numpy()
    cases["case_no_key"] = cases["case_no"].astype(str).str.strip().str.upper()
    parents = ex.territory.set_index("code")["parent_code"]
    grid_parent = cases["grid_code"].map(parents)
    cases["grid_in_community"] = cases["grid_code"].isna() | (
        grid_parent == cases["community_code"]
    )
    for t in ("opened_at", "handled_at", "closed_at", *(c for c in cases if c.endswith("_due"))):
        if cases[t].dtype == np.int64:
            cases[t] = _datetimes(cases[t].to_numpy()).to_numpy()

    events = ev.assign(
        at=_datetimes(ev["at"].to_numpy()).to_numpy(),
        recorded_at=_datetimes(ev["recorded_at"].to_numpy()).to_numpy(),
        gap_seconds=_gaps(ev["at"].to_numpy(), case_ids),
    )
    closed = cases[is_closed]
    return AuditFrames(cases, closed, events, _reference(ex))


def _gaps(at: I64, case_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Seconds since the case's previous event (by seq); NaN for its first."""
    gap = np.full(len(at), np.nan)
    if len(at) > 1:
        same = case_ids[1:] == case_ids[:-1]
        diff = (at[1:] - at[:-1]) / 1e6
        gap[1:] = np.where(same, diff, np.nan)
    return gap


def _item_valid(
    cases: pd.DataFrame, items: pd.DataFrame, cal: WorkingCalendar
) -> npt.NDArray[np.bool_]:
    """The case's item version was in force on its local opening date."""
    keys = cases[["item_code", "item_version"]].astype({"item_version": "int64"})
    m = keys.merge(
        items[["code", "version", "valid_from", "valid_to"]],
        left_on=["item_code", "item_version"],
        right_on=["code", "version"],
        how="left",
    )
    opened = pd.to_datetime(cases["opened_at"].to_numpy(), unit="us", utc=True)
    day = pd.Series(opened.tz_convert(cal.tz).date, index=m.index)
    vf = m["valid_from"]
    vt = m["valid_to"]
    ok = (
        vf.notna()
        & (day >= vf.where(vf.notna(), day))
        & (vt.isna() | (day < vt.where(vt.notna(), day)))
    )
    return np.asarray(ok.to_numpy(dtype=bool), dtype=bool)


def _reference(ex: AuditExtract) -> dict[str, list[str]]:
    t = ex.territory
    return {
        "department": sorted(ex.departments["code"].astype(str)),
        **{
            k: sorted(t.loc[t["kind"] == k, "code"].astype(str))
            for k in ("community", "grid", "street")
        },
    }
