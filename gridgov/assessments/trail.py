"""What the trail says, vectorised: who held a case at each event, its acknowledge/arrive
windows, how returns ended, and per-case facts as of the cutoff.

Every function takes the events sorted by (case_id, seq), as ``extract.read_events`` returns
them, and works on positions in that order (numpy accumulate tricks instead of per-case loops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.assessments.extract import NEVER
from gridgov.assessments.rules import NO_LIMIT
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.officetime import OfficeClock

Idx = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
ROUTE = ("dispatched", "rerouted")  # the case now sits with the department in the payload
REWORK = ("review_failed", "reopened")


def last_where(mask: Mask, group: npt.NDArray[Any]) -> Idx:
    """Per row, the position of the latest row at or before it in the same group where
    ``mask`` holds, else -1. Rows must be sorted by group."""
    n = len(mask)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    acc = np.maximum.accumulate(np.where(mask, np.arange(n), -1))
    safe = np.maximum(acc, 0)
    return np.where((acc >= 0) & (group[safe] == group), acc, -1)


def next_where(mask: Mask, group: npt.NDArray[Any]) -> Idx:
    """Per row, the position of the earliest row strictly after it in the same group where
    ``mask`` holds, else -1."""
    n = len(mask)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    at_or_after = np.minimum.accumulate(np.where(mask, np.arange(n), n)[::-1])[::-1]
    after = np.append(at_or_after[1:], n)
    safe = np.minimum(after, n - 1)
    return np.where((after < n) & (group[safe] == group), after, -1)


def first_in(
    mask: Mask, slot: Idx, values: npt.NDArray[np.int64], size: int
) -> npt.NDArray[np.int64]:
    """Per slot (0…size-1), the smallest of ``values`` on rows where ``mask`` holds."""
    out = np.full(size, NEVER, dtype=np.int64)
    m = mask & (slot >= 0)
    np.minimum.at(out, slot[m], values[m])
    return out


class Units:
    """The events' ``detail`` (a dispatch's target department, a callback's rating) as integer
    codes into its sorted values plus ``COMMUNITY_UNIT``: holders are picked by code, never as
    a Python string per event."""

    def __init__(self, detail: pd.Series) -> None:
        cat = (
            detail.astype("category")
            if not isinstance(detail.dtype, pd.CategoricalDtype)
            else detail
        )
        own = cat.cat.categories
        self.names = own.append(pd.Index([COMMUNITY_UNIT], dtype=own.dtype)).unique().sort_values()
        remap = np.append(self.names.get_indexer(own), -1)
        self.codes = remap[cat.cat.codes.to_numpy().astype(np.intp)]  # -1: no detail
        self.community = int(self.names.get_loc(COMMUNITY_UNIT))

    def at(self, rows: Idx) -> Idx:
        """The unit code of each row's detail at ``rows`` (``COMMUNITY_UNIT`` where -1)."""
        return np.where(rows >= 0, self.codes[np.maximum(rows, 0)], self.community)


@dataclass
class Trail:
    events: pd.DataFrame  # input events plus ``holder`` and, for returns, ``accepted``
    windows: pd.DataFrame  # one row per dispatch/re-route: acknowledge and arrive windows
    per_case: pd.DataFrame  # indexed by case_id: facts as of the cutoff


def read_trail(events: pd.DataFrame, case_rules: pd.DataFrame, clock: OfficeClock) -> Trail:
    """``case_rules``: rule rows indexed by case id (see ``rules.rules_for``)."""
    ev = events
    case = ev["case_id"].to_numpy()
    at = ev["at"].to_numpy()
    kind = ev["kind"]
    route = kind.isin(ROUTE).to_numpy()
    returned = (kind == "returned").to_numpy()
    cancelled = (kind == "cancelled").to_numpy()
    units = Units(ev["detail"])

    # Who holds the case at each event: the target of the latest dispatch/re-route (a return
    # leaves it with the returning department until the dispatcher re-routes it).
    li_route = last_where(route, case)
    holder = units.at(li_route)
    ev = ev.assign(holder=pd.Categorical.from_codes(holder, units.names).remove_unused_categories())

    # A return is accepted when the next routing step is a re-route (not pending/cancelled).
    nxt = next_where(route | returned | cancelled, case)
    rerouted = (kind == "rerouted").to_numpy()
    ev["accepted"] = returned & (nxt >= 0) & rerouted[np.maximum(nxt, 0)]

    windows = _windows(ev, case, at, route, returned | cancelled, li_route, case_rules, clock)
    per_case = _per_case(ev, case, at, route, returned, li_route, units)
    return Trail(ev, windows, per_case)


def _windows(
    ev: pd.DataFrame,
    case: npt.NDArray[Any],
    at: npt.NDArray[np.int64],
    route: Mask,
    ends: Mask,
    li_route: Idx,
    case_rules: pd.DataFrame,
    clock: OfficeClock,
) -> pd.DataFrame:
    """Each dispatch/re-route opens a window: acknowledge by ``ack_due``, arrive by
    ``arrive_due``; a return or cancellation ends it. Imported dispatches open none: the
    source system did not record acknowledgements, so there is nothing to count."""
    n = len(ev)
    kind = ev["kind"]
    ack = first_in((kind == "acknowledged").to_numpy(), li_route, at, n)
    arrive = first_in((kind == "arrived").to_numpy(), li_route, at, n)
    end = first_in(ends, li_route, at, n)
    native = ~ev["imported"].to_numpy(dtype=bool) if "imported" in ev else True
    rows = np.flatnonzero(route & native)
    w = pd.DataFrame(
        {
            "case_id": case[rows],
            "dept": ev["detail"].array[rows],  # categorical, as read
            "start": at[rows],
            "ack_at": ack[rows],
            "arrive_at": arrive[rows],
            "end_at": end[rows],
        }
    )
    r = case_rules.reindex(w["case_id"].to_numpy())
    start = w["start"].to_numpy()
    for limit, col in (("acknowledge", "ack_due"), ("arrive", "arrive_due")):
        span = r[f"{limit}_span"].fillna(NO_LIMIT).to_numpy(dtype=np.int64)
        working = r[f"{limit}_working"].fillna(False).to_numpy(dtype=bool)
        has = span >= 0
        due = np.full(len(w), NEVER, dtype=np.int64)
        due[has] = clock.deadline(start[has], span[has], working[has])
        w[col] = due
    return w


def _per_case(
    ev: pd.DataFrame,
    case: npt.NDArray[Any],
    at: npt.NDArray[np.int64],
    route: Mask,
    returned: Mask,
    li_route: Idx,
    units: Units,
) -> pd.DataFrame:
    n = len(ev)
    if n == 0:
        return pd.DataFrame(
            columns=[
                "received_at",
                "holder",
                "pending_return",
                "cancelled_at",
                "extended",
                "reworked",
                "last_rating",
            ]
        )
    last = np.append(case[1:] != case[:-1], True)
    kind = ev["kind"]
    lr = li_route[last]
    li_rr = last_where(route | returned, case)[last]
    li_rated = last_where((kind == "rated").to_numpy(), case)[last]
    # The last rating (missing without a rated event, or when the event carries none).
    rating = pd.Categorical.from_codes(
        np.where(li_rated >= 0, units.codes[np.maximum(li_rated, 0)], -1), categories=units.names
    )
    ids = case[last]
    slot = np.cumsum(np.r_[True, case[1:] != case[:-1]]) - 1  # each row's case, 0…size-1
    size = len(ids)

    def any_of(mask: Mask) -> Mask:
        return np.bincount(slot[mask], minlength=size) > 0

    return pd.DataFrame(
        {
            "received_at": np.where(lr >= 0, at[np.maximum(lr, 0)], NEVER),
            "holder": pd.Categorical.from_codes(units.at(lr), categories=units.names),
            "pending_return": (li_rr >= 0) & returned[np.maximum(li_rr, 0)],
            "cancelled_at": first_in((kind == "cancelled").to_numpy(), slot, at, size),
            "extended": any_of((kind == "extension_granted").to_numpy()),
            "reworked": any_of(kind.isin(REWORK).to_numpy()),
            "last_rating": rating,
        },
        index=pd.Index(ids, name="case_id"),
    )
