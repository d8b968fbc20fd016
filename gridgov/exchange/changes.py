"""A changed source row against its stored case: a conflict, nothing, or steps to append, and
the case's new column values (docs/exchange.md, "Idempotency and updates")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridgov.domain.deadlines import Ladder
from gridgov.domain.enums import CaseStatus
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.worktime import from_us
from gridgov.exchange.case_rows import clocks, spared
from gridgov.exchange.prepare import NONE, Lookups
from gridgov.exchange.rejects import Reason
from gridgov.exchange.steps import RANK, STEPS, case_assignee, step_times


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
            "spot_check": False if spared(tier[i : i + 1], status[i : i + 1])[0] else None,
        }
        if RANK[s["status"]] < 1 and times["dispatched"][i] != NONE:
            values["dispatched_at"] = dt(int(times["dispatched"][i]))
        if status[i] == CaseStatus.CANCELLED.value:
            values["closed_at"] = None
        out.append(values)
    return out
