"""Imported rows as ledger history: the case row and its event trail (docs/exchange.md).

The trail is written directly as history (role ``system``, actor ``import:<source_system>``),
not through the live transition table, and keeps the ledger's invariants: seq 1…n per case,
events in time order, idempotency keys ``import:<system>:<source id>:<kind>``. A row's trail
is the steps its status reaches, in this order:

    created (opened) → dispatched (opened; when a department had it, or status dispatched)
    → handled (handled time, else closed time) → closed (closed time) | cancelled (closed time)

Imported history has no dispatch, acknowledgement or arrival times: the dispatch is recorded
at the opening moment and nothing is invented after it. An update appends the steps after the
case's present position; it never rewrites a stored event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.domain.deadlines import Clock, Ladder, rule_for
from gridgov.domain.enums import CaseStatus, DeadlineKind, Role, Tier
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.exchange.prepare import NONE, Lookups
from gridgov.exchange.rejects import Reason
from gridgov.exchange.store import EVENT_COLUMNS, Render
from gridgov.exchange.worktime import from_us, to_us

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
# (kind, rank, status it leads to); closed and cancelled are alternative last steps.
STEPS = (
    ("created", 0, "reported"),
    ("dispatched", 1, "dispatched"),
    ("handled", 2, "handled"),
    ("closed", 3, "closed"),
    ("cancelled", 3, "cancelled"),
)
# How far along that trail a stored case is, whatever live events moved it since.
RANK = {
    "reported": 0,
    "dispatched": 1,
    "acknowledged": 1,
    "returned": 1,
    "in_progress": 1,
    "rework": 1,
    "handled": 2,
    "under_review": 2,
    "evaluating": 2,
    "closed": 3,
    "cancelled": 3,
}
KEY_MAX = 200


def dispatched(rows: pd.DataFrame) -> Mask:
    status = rows["status"].to_numpy(dtype=object)
    out: Mask = (status != "reported") & (
        (rows["assignee"].to_numpy(dtype=object) != COMMUNITY_UNIT) | (status == "dispatched")
    )
    return out


def case_assignee(rows: pd.DataFrame) -> npt.NDArray[Any]:
    """A case not yet dispatched sits with its community, as a freshly reported case does."""
    status = rows["status"].to_numpy(dtype=object)
    return np.where(status == "reported", COMMUNITY_UNIT, rows["assignee"].to_numpy(dtype=object))


def step_times(rows: pd.DataFrame, after: I64) -> dict[str, I64]:
    """When each step happened (``NONE``: not in this row's trail). An update's dispatch
    comes no earlier than the case's last stored event (``after``)."""
    created = rows["created"].to_numpy(dtype=np.int64)
    floor = np.where(after == NONE, created, np.maximum(created, after))
    return {
        "created": created,
        "dispatched": np.where(dispatched(rows), floor, NONE),
        "handled": rows["handled"].to_numpy(dtype=np.int64),
        "closed": rows["closed"].to_numpy(dtype=np.int64),
        "cancelled": rows["cancelled"].to_numpy(dtype=np.int64),
    }


class EventWriter:
    """Builds ``case_events`` rows for imported steps (values in stored form)."""

    def __init__(self, lk: Lookups, render: Render, now_us: int) -> None:
        m = lk.mapping
        self.system, self.actor = m.source_system, m.actor
        self.render = render
        self.recorded = render.times(np.array([now_us], dtype=np.int64))[0]
        self.reason = json.dumps(f"cancelled in {m.source_system}", ensure_ascii=False)
        self._status_json: dict[str, str] = {}

    def key(self, source_id: str, kind: str) -> str:
        k = f"import:{self.system}:{source_id}:{kind}"
        if len(k) > KEY_MAX:  # long source ids: a digest keeps the key unique and in size
            digest = hashlib.blake2b(source_id.encode(), digest_size=16).hexdigest()
            k = f"import:{self.system}:#{digest}:{kind}"
        return k

    def _status(self, raw: str) -> str:
        if raw not in self._status_json:
            self._status_json[raw] = json.dumps(raw, ensure_ascii=False)
        return self._status_json[raw]

    def payloads(self, kind: str, rows: pd.DataFrame, idx: npt.NDArray[np.intp]) -> list[str]:
        h = rows["hash"].to_numpy(dtype=object)[idx]
        if kind == "created":
            v = rows["item_version"].to_numpy()[idx]
            ch = rows["channel"].to_numpy(dtype=object)[idx]
            return [
                f'{{"imported": true, "item_version": {a}, "source": "{b}", "source_hash": "{c}"}}'
                for a, b, c in zip(v.tolist(), ch, h, strict=True)
            ]
        if kind == "dispatched":
            d = rows["assignee"].to_numpy(dtype=object)[idx]
            return [
                f'{{"department": "{a}", "imported": true, "source_hash": "{b}"}}'
                for a, b in zip(d, h, strict=True)
            ]
        if kind == "handled":
            return [f'{{"imported": true, "source_hash": "{b}"}}' for b in h]
        raw = rows["source_status"].to_numpy(dtype=object)[idx]
        extra = f'"reason": {self.reason}, ' if kind == "cancelled" else ""
        return [
            f'{{"imported": true, {extra}"source_status": {self._status(s)}, "source_hash": "{b}"}}'
            for s, b in zip(raw, h, strict=True)
        ]

    def rows(
        self,
        rows: pd.DataFrame,
        case_id: I64,
        *,
        min_rank: I64 | None = None,
        first_seq: I64 | None = None,
        first_from: npt.NDArray[Any] | None = None,
        after: I64 | None = None,
    ) -> list[tuple[Any, ...]]:
        """Events for each row's steps ranked above ``min_rank`` (new cases: all of them)."""
        n = len(rows)
        min_rank = np.full(n, -1, dtype=np.int64) if min_rank is None else min_rank
        seq = np.ones(n, dtype=np.int64) if first_seq is None else first_seq.copy()
        prev = np.full(n, None, dtype=object) if first_from is None else first_from.copy()
        times = step_times(rows, np.full(n, NONE, dtype=np.int64) if after is None else after)
        sids = rows["source_id"].to_numpy(dtype=object)
        cols: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
        for kind, rank, to in STEPS:
            t = times[kind]
            idx = np.flatnonzero((t != NONE) & (rank > min_rank))
            if not idx.size:
                continue
            k = len(idx)
            cols["case_id"] += case_id[idx].tolist()
            cols["seq"] += seq[idx].tolist()
            cols["kind"] += [kind] * k
            cols["at"] += self.render.times(t[idx])
            cols["from_status"] += prev[idx].tolist()
            cols["to_status"] += [to] * k
            cols["payload"] += self.payloads(kind, rows, idx)
            cols["idempotency_key"] += [self.key(s, kind) for s in sids[idx]]
            seq[idx] += 1
            prev[idx] = to
        total = len(cols["case_id"])
        cols["actor"] = [self.actor] * total
        cols["role"] = [Role.SYSTEM.value] * total
        cols["department"] = cols["community"] = [None] * total
        cols["recorded_at"] = [self.recorded] * total
        order = np.lexsort((np.asarray(cols["seq"]), np.asarray(cols["case_id"])))
        data = list(zip(*(cols[c] for c in EVENT_COLUMNS), strict=True))
        return [data[i] for i in order.tolist()]


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
    kind[np.isin(status, ["reported", "dispatched"])] = DeadlineKind.ACKNOWLEDGE.value
    kind[np.isin(status, ["reported", "dispatched"]) & (tier == int(Tier.FIELD_FIX))] = (
        DeadlineKind.HANDLE.value
    )
    kind[status == "handled"] = DeadlineKind.REVIEW.value
    due_by_kind = {
        DeadlineKind.ACKNOWLEDGE.value: rows["acknowledge_due"].to_numpy(dtype=np.int64),
        DeadlineKind.HANDLE.value: rows["handle_due"].to_numpy(dtype=np.int64),
        DeadlineKind.REVIEW.value: rows["review_due"].to_numpy(dtype=np.int64),
    }
    due = np.full(n, NONE, dtype=np.int64)
    for k, values in due_by_kind.items():
        due = np.where(kind == k, values, due)
    open_ = kind != None  # noqa: E711 (elementwise)
    unit = np.full(n, None, dtype=object)
    sweep = np.full(n, NONE, dtype=np.int64)
    created = rows["created"].to_numpy(dtype=np.int64)
    handled = rows["handled"].to_numpy(dtype=np.int64)
    items = rows[["item_code", "item_version"]].to_numpy(dtype=object)
    ahead = open_ & (due > now_us)
    for i in np.flatnonzero(open_).tolist():
        ck = DeadlineKind(kind[i])
        rules = lk.rules(lk.catalog.version(items[i][0], int(items[i][1])))
        unit[i] = rule_for(rules, ck).unit.value
        if ahead[i]:
            start = handled[i] if ck == DeadlineKind.REVIEW else created[i]
            clock = Clock(ck, from_us(start), from_us(due[i]), rule_for(rules, ck).unit)
            step = ladder.step_due_at(lk.calendar, clock, 0)
            sweep[i] = NONE if step is None else to_us(step)
    handle_due = rows["handle_due"].to_numpy(dtype=np.int64)
    late_closed = (status == "closed") & (handled > handle_due)
    overdue = (open_ & ~ahead) | late_closed
    since = np.where(open_ & ~ahead, due, np.where(late_closed, handle_due, NONE))
    return Clocks(kind, due, unit, sweep, overdue, since)


def case_values(
    rows: pd.DataFrame,
    case_nos: list[str],
    lk: Lookups,
    ladder: Ladder,
    render: Render,
    now_us: int,
) -> dict[str, list[Any]]:
    """``cases`` columns (all but ``id`` when written) for new imported cases, in stored
    form; a column added later with a default is left to its default."""
    n = len(rows)
    t = render.times
    status = rows["status"].to_numpy(dtype=object)
    times = step_times(rows, np.full(n, NONE, dtype=np.int64))
    last = np.max(
        np.where(np.vstack(list(times.values())) == NONE, -1, np.vstack(list(times.values()))),
        axis=0,
    )
    ck = clocks(rows, lk, ladder, now_us)
    tier = rows["tier"].to_numpy()
    spot = [
        False if t == int(Tier.FIELD_FIX) and s == "closed" else None
        for t, s in zip(tier.tolist(), status.tolist(), strict=True)
    ]
    none = [None] * n
    zero = [0] * n

    def text(col: str) -> list[Any]:
        return [v if v else None for v in rows[col].to_numpy(dtype=object).tolist()]

    def number(col: str) -> list[Any]:
        return [None if v != v else v for v in rows[col].to_numpy(dtype=float).tolist()]

    v: dict[str, list[Any]] = {
        "case_no": case_nos,
        "item_code": rows["item_code"].tolist(),
        "item_version": rows["item_version"].tolist(),
        "item_name": rows["item_name"].tolist(),
        "tier": rows["tier"].tolist(),
        "category": rows["category"].tolist(),
        "status": status.tolist(),
        "source": rows["channel"].tolist(),
        "reporter": rows["reporter"].tolist(),
        "description": rows["description"].tolist(),
        "media": ["[]"] * n,
        "street_code": rows["street"].tolist(),
        "community_code": rows["community"].tolist(),
        "grid_code": [g if isinstance(g, str) else None for g in rows["grid"].tolist()],
        "building": text("building"),
        "lat": number("lat"),
        "lon": number("lon"),
        "lead_department": rows["lead"].tolist(),
        "assisting": rows["assisting"].tolist(),
        "assignee": case_assignee(rows).tolist(),
        "opened_at": t(times["created"]),
        "dispatched_at": t(times["dispatched"]),
        "acknowledged_at": none,
        "arrived_at": none,
        "handled_at": t(rows["handled"].to_numpy(dtype=np.int64)),
        "closed_at": t(rows["closed"].to_numpy(dtype=np.int64)),
        "updated_at": t(last),
        "acknowledge_due": t(rows["acknowledge_due"].to_numpy(dtype=np.int64)),
        "arrive_due": t(rows["arrive_due"].to_numpy(dtype=np.int64)),
        "handle_due": t(rows["handle_due"].to_numpy(dtype=np.int64)),
        "review_due": t(rows["review_due"].to_numpy(dtype=np.int64)),
        "clock_kind": ck.kind.tolist(),
        "clock_start": t(times["created"]),
        "clock_due": t(ck.due),
        "clock_unit": ck.unit.tolist(),
        "ladder_done": zero,
        "next_sweep_at": t(ck.next_sweep),
        "supervision_level": none,
        "overdue": render.flags(ck.overdue),
        "overdue_since": t(ck.overdue_since),
        "rework_count": zero,
        "return_count": zero,
        "extension_count": zero,
        "extension_pending": render.flags(np.zeros(n, dtype=bool)),
        "spot_check": [render.flag(x) for x in spot],
        "rating": none,
        "repeat_count": [1] * n,
        "dedupe_key": none,
        "deadline_source": rows["deadline_source"].tolist(),
        "flow_run_id": none,
        "source_system": [lk.mapping.source_system] * n,
        "source_id": rows["source_id"].tolist(),
        "row_version": [1] * n,
    }
    return v


@dataclass(frozen=True)
class Conflict:
    field: str
    detail: str
    reason: Reason = Reason.CONFLICTING_UPDATE


COMPARED = (  # (row column, stored column, field named in the reject)
    ("created", "opened_at", "created"),
    ("item_code", "item_code", "type"),
    ("community", "community_code", "community"),
    ("grid", "grid_code", "grid"),
    ("channel", "source", "channel"),
    ("reporter", "reporter", "reporter"),
    ("description", "description", "description"),
    ("building", "building", "building"),
    ("lat", "lat", "lat"),
    ("lon", "lon", "lon"),
)


def _same(a: Any, b: Any) -> bool:
    blank = (None, "")
    if (a in blank or a != a) and (b in blank or b != b):  # None, "" and NaN: no value
        return True
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def _shown(us: int) -> str:
    return "none" if us == NONE else from_us(us).isoformat()


def plan_update(row: dict[str, Any], stored: dict[str, Any]) -> Conflict | int | None:
    """What a changed source row means for its stored case: a conflict, nothing to do
    (``None``), or the rank after which its trail gets new steps."""
    for col, scol, field in COMPARED:
        if not _same(row[col], stored[scol]):
            a, b = row[col], stored[scol]
            if field == "created":
                a, b = _shown(a), _shown(b)
            return Conflict(field, f"{field} changed: ledger has {b!r}, source now {a!r}")
    if "source" in (row["deadline_source"], stored["deadline_source"]) and (
        row["handle_due"] != stored["handle_due"]
    ):
        return Conflict(
            "deadline",
            f"deadline changed: ledger has "
            f"{_shown(stored['handle_due'])}, source now {_shown(row['handle_due'])}",
        )
    cur, new = RANK[stored["status"]], RANK[row["status"]]
    if new < cur or (new == cur == 3 and row["status"] != stored["status"]):
        return Conflict(
            "status",
            f"the ledger has the case {stored['status']}; the source "
            f"now says {row['source_status']!r} ({row['status']})",
        )
    if cur >= 1:
        want = COMMUNITY_UNIT if row["status"] == "reported" else row["assignee"]
        if want != stored["assignee"]:
            return Conflict(
                "department",
                f"department changed: ledger has {stored['assignee']}, source now {want}",
            )
    if cur >= 2 and row["handled"] != stored["handled_at"]:
        return Conflict(
            "handled",
            f"handled time changed: ledger has "
            f"{_shown(stored['handled_at'])}, source now {_shown(row['handled'])}",
        )
    if cur == 3 and row["closed"] != stored["closed_at"]:
        return Conflict(
            "closed",
            f"closed time changed: ledger has "
            f"{_shown(stored['closed_at'])}, source now {_shown(row['closed'])}",
        )
    if new == cur:
        return None
    first = next(
        (row[k] for k, rank, _ in STEPS if rank > cur and k != "dispatched" and row[k] != NONE),
        NONE,
    )
    if first != NONE and first < stored["last_at"]:
        return Conflict(
            "handled" if row["handled"] == first else "closed",
            f"{_shown(first)} is before the case's last event "
            f"({_shown(stored['last_at'])}); events are appended in time order",
        )
    return cur


UPDATED = (
    "status",
    "assignee",
    "handled_at",
    "closed_at",
    "review_due",
    "updated_at",
    "clock_kind",
    "clock_due",
    "clock_unit",
    "next_sweep_at",
    "ladder_done",
    "supervision_level",
    "overdue",
    "overdue_since",
    "spot_check",
)


def update_values(
    rows: pd.DataFrame, stored: list[dict[str, Any]], lk: Lookups, ladder: Ladder, now_us: int
) -> list[dict[str, Any]]:
    """Column values (Python objects, for typed UPDATEs) of cases getting new steps."""
    n = len(rows)
    ck = clocks(rows, lk, ladder, now_us)
    after = np.array([s["last_at"] for s in stored], dtype=np.int64)
    times = step_times(rows, after)
    last = np.max(
        np.where(np.vstack(list(times.values())) == NONE, -1, np.vstack(list(times.values()))),
        axis=0,
    )
    assignee = case_assignee(rows)
    status = rows["status"].to_numpy(dtype=object)
    tier = rows["tier"].to_numpy()
    out = []

    def dt(us: int) -> Any:
        return None if us == NONE else from_us(us)

    for i in range(n):
        s = stored[i]
        values: dict[str, Any] = {
            "status": status[i],
            "assignee": assignee[i],
            "handled_at": dt(int(rows["handled"].iat[i])),
            "closed_at": dt(int(rows["closed"].iat[i])),
            "review_due": dt(int(rows["review_due"].iat[i])),
            "updated_at": dt(max(int(last[i]), s["last_at"])),
            "clock_kind": ck.kind[i],
            "clock_due": dt(int(ck.due[i])),
            "clock_unit": ck.unit[i],
            "next_sweep_at": dt(int(ck.next_sweep[i])),
            "ladder_done": 0,
            "supervision_level": None,
            "overdue": bool(ck.overdue[i]),
            "overdue_since": dt(int(ck.overdue_since[i])),
            "spot_check": False
            if tier[i] == int(Tier.FIELD_FIX) and status[i] == "closed"
            else None,
        }
        if RANK[s["status"]] < 1 and times["dispatched"][i] != NONE:
            values["dispatched_at"] = dt(int(times["dispatched"][i]))
        if status[i] == CaseStatus.CANCELLED.value:
            values["closed_at"] = None
        out.append(values)
    return out
