"""A new imported case's ``cases`` row in stored form, and its clock fields (docs/exchange.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.domain.deadlines import Clock, Ladder, limit_unit
from gridgov.domain.enums import CaseStatus, DeadlineKind
from gridgov.domain.tiers import path, tiers_where
from gridgov.domain.worktime import from_us, to_us
from gridgov.exchange.prepare import NONE, Lookups
from gridgov.exchange.steps import I64, Mask, case_assignee, stage_rows, step_times
from gridgov.ledger.rows import Encoder


def spared(tier: npt.NDArray[Any], status: npt.NDArray[Any]) -> Mask:
    """Imported cases closed without review by their tier's path (a field fix's spot-check
    draw spared them): their spot_check is False."""
    out: Mask = np.isin(tier, tiers_where("spot_check")) & (status == "closed")
    return out


@dataclass(frozen=True)
class Clocks:
    kind: npt.NDArray[Any]
    due: I64
    unit: npt.NDArray[Any]
    next_sweep: I64
    overdue: Mask
    overdue_since: I64


def clocks(rows: pd.DataFrame, lk: Lookups, ladder: Ladder, now_us: int) -> Clocks:
    """The clock fields CaseBook would set. An open case is put on the supervision ladder
    only when its running limit is still ahead: one already past due was supervised, or not,
    in the old system, and waking thousands of them at once would only flood notices."""
    n = len(rows)
    status = rows["status"].to_numpy(dtype=object)
    tier = rows["tier"].to_numpy()
    kind = np.full(n, None, dtype=object)
    for st, t in {(a, int(b)) for a, b in zip(status.tolist(), tier.tolist(), strict=True)}:
        limit = path(t).running_limit(CaseStatus(st))  # the tier's path, per distinct pair
        # The callback was the old system's to chase: an imported evaluating case gets none.
        if limit is not None and limit != DeadlineKind.CALLBACK:
            kind[(status == st) & (tier == t)] = limit.value
    due_by_kind = {
        DeadlineKind.ACKNOWLEDGE.value: rows["acknowledge_due"].to_numpy(dtype=np.int64),
        DeadlineKind.HANDLE.value: rows["handle_due"].to_numpy(dtype=np.int64),
        DeadlineKind.REVIEW.value: rows["review_due"].to_numpy(dtype=np.int64),
    }
    due = np.full(n, NONE, dtype=np.int64)
    for k, values in due_by_kind.items():
        due = np.where(kind == k, values, due)
    open_ = kind != None  # noqa: E711 (elementwise)
    # A running limit with no due time (the item says ``none``, or the source had no
    # deadline) is never overdue and never laddered, as ``ledger.clocks.set_clock`` has it.
    timed = open_ & (due != NONE)
    unit = np.full(n, None, dtype=object)
    sweep = np.full(n, NONE, dtype=np.int64)
    created = rows["created"].to_numpy(dtype=np.int64)
    handled = rows["handled"].to_numpy(dtype=np.int64)
    items = rows[["item_code", "item_version"]].to_numpy(dtype=object)
    ahead = timed & (due > now_us)
    for i in np.flatnonzero(timed).tolist():
        ck = DeadlineKind(kind[i])
        rules = lk.rules(lk.catalog.version(items[i][0], int(items[i][1])))
        unit_i = limit_unit(rules, ck)
        unit[i] = unit_i.value
        if ahead[i]:
            start = handled[i] if ck == DeadlineKind.REVIEW else created[i]
            clock = Clock(ck, from_us(start), from_us(due[i]), unit_i)
            step = ladder.step_due_at(lk.calendar, clock, 0)
            sweep[i] = NONE if step is None else to_us(step)
    handle_due = rows["handle_due"].to_numpy(dtype=np.int64)
    late_closed = (status == "closed") & (handle_due != NONE) & (handled > handle_due)
    overdue = (timed & ~ahead) | late_closed
    since = np.where(timed & ~ahead, due, np.where(late_closed, handle_due, NONE))
    return Clocks(kind, due, unit, sweep, overdue, since)


@dataclass(frozen=True)
class NewCases:
    """What rows are written as if they are new cases, in stored form, by row position:
    ``cases`` columns (all but ``id`` and ``case_no``, reserved in the transaction), the
    columns every imported case has the same value in (written as literals), and on SQLite
    the staged values their trails need (stage_rows)."""

    cases: dict[str, list[Any]]
    constants: dict[str, Any]
    trails: dict[str, list[Any]]

    def take(self, pos: npt.NDArray[np.intp]) -> NewCases:
        """The values of the rows at ``pos``."""
        n = len(next(iter(self.cases.values()), []))
        if len(pos) == n and bool((pos == np.arange(n)).all()):
            return self
        idx = pos.tolist()

        def pick(d: dict[str, list[Any]]) -> dict[str, list[Any]]:
            return {k: [v[i] for i in idx] for k, v in d.items()}

        return NewCases(pick(self.cases), self.constants, pick(self.trails))


def new_cases(
    rows: pd.DataFrame, lk: Lookups, ladder: Ladder, render: Encoder, now_us: int
) -> NewCases:
    if rows.empty:
        return NewCases({}, {}, {})
    cases, constants = case_values(rows, lk, ladder, render, now_us)
    trails = stage_rows(rows, lk, render, now_us) if render.sqlite else {}
    return NewCases(cases, constants, trails)


def case_values(
    rows: pd.DataFrame,
    lk: Lookups,
    ladder: Ladder,
    render: Encoder,
    now_us: int,
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """``cases`` columns (all but ``id`` and ``case_no`` when written) for new imported
    cases, in stored form: the values per row, and the columns every imported case has the
    same value in (written as literals); a column added later with a default is left to its
    default."""
    n = len(rows)
    t = render.times
    status = rows["status"].to_numpy(dtype=object)
    times = step_times(rows, np.full(n, NONE, dtype=np.int64))
    stacked = np.vstack(list(times.values()))
    last = np.max(np.where(stacked == NONE, -1, stacked), axis=0)
    ck = clocks(rows, lk, ladder, now_us)
    tier = rows["tier"].to_numpy()
    spot_checked = spared(tier, status)
    no = render.flag(False)  # field fixes closed without a spot review
    spot = [no if c else None for c in spot_checked.tolist()]

    def text(col: str) -> list[Any]:
        return [v if v else None for v in rows[col].to_numpy(dtype=object).tolist()]

    def number(col: str) -> list[Any]:
        values = rows[col].to_numpy(dtype=float)
        if np.isnan(values).all():
            return [None] * n
        return [None if v != v else v for v in values.tolist()]

    def times_of(col: str) -> list[str | None]:
        return t(rows[col].to_numpy(dtype=np.int64))

    opened = t(times["created"])
    handled = times_of("handled")
    closed = handled if rows["closed"].equals(rows["handled"]) else times_of("closed")
    v: dict[str, list[Any]] = {
        "item_code": rows["item_code"].tolist(),
        "item_version": rows["item_version"].tolist(),
        "item_name": rows["item_name"].tolist(),
        "tier": rows["tier"].tolist(),
        "category": rows["category"].tolist(),
        "status": status.tolist(),
        "source": rows["channel"].tolist(),
        "reporter": rows["reporter"].tolist(),
        "description": rows["description"].tolist(),
        "street_code": rows["street"].tolist(),
        "community_code": rows["community"].tolist(),
        "grid_code": [g if isinstance(g, str) else None for g in rows["grid"].tolist()],
        "building": text("building"),
        "lat": number("lat"),
        "lon": number("lon"),
        "lead_department": rows["lead"].tolist(),
        "assisting": rows["assisting"].tolist(),
        "assignee": case_assignee(rows).tolist(),
        "opened_at": opened,
        "dispatched_at": t(times["dispatched"]),
        "handled_at": handled,
        "closed_at": closed,
        "updated_at": t(last),
        "acknowledge_due": times_of("acknowledge_due"),
        "arrive_due": times_of("arrive_due"),
        "handle_due": times_of("handle_due"),
        "review_due": times_of("review_due"),
        "clock_kind": ck.kind.tolist(),
        "clock_start": opened,
        "clock_due": t(ck.due),
        "clock_unit": ck.unit.tolist(),
        "next_sweep_at": t(ck.next_sweep),
        "overdue": render.flags(ck.overdue),
        "overdue_since": t(ck.overdue_since),
        "spot_check": spot,
        "deadline_source": rows["deadline_source"].tolist(),
        "provisional_years": rows["provisional_years"].tolist(),
        "source_id": rows["source_id"].tolist(),
        "attributes": text("attributes"),  # JSON text from the reader, or None
        "source_channel": [c[:64] if c else None for c in rows["source_channel"].tolist()],
    }
    constants: dict[str, Any] = {
        "media": "[]",
        "acknowledged_at": None,
        "arrived_at": None,
        "ladder_done": 0,
        "supervision_level": None,
        "rework_count": 0,
        "return_count": 0,
        "extension_count": 0,
        "extension_pending": render.flag(False),
        "rating": None,
        "repeat_count": 1,
        "dedupe_key": None,
        "flow_run_id": None,
        "source_system": lk.mapping.source_system,
        "row_version": 1,
    }
    return v, constants
