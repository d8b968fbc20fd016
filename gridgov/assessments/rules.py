"""Each item version's time limits as spans of microseconds, ready to join onto cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gridgov.domain.calendar import Duration, WorkingCalendar
from gridgov.domain.enums import TimeUnit
from gridgov.domain.officetime import span_us

LIMITS = ("acknowledge", "arrive", "handle", "review")
NO_LIMIT = -1  # the item has no such limit (tier 1/2 items have no arrival limit)


def duration_of(spec: Any) -> Duration | None:
    if not isinstance(spec, dict) or "amount" not in spec or "unit" not in spec:
        return None
    return Duration(float(spec["amount"]), TimeUnit(spec["unit"]))


def rule_table(items: pd.DataFrame, cal: WorkingCalendar) -> pd.DataFrame:
    """Rows per (code, version): ``<limit>_span`` (µs, ``NO_LIMIT`` if none) and
    ``<limit>_working`` (office time or natural time) for every limit."""
    rows = []
    for code, version, deadlines in zip(
        items["code"], items["version"], items["deadlines"], strict=True
    ):
        row: dict[str, Any] = {"item_code": code, "item_version": int(version)}
        for limit in LIMITS:
            d = duration_of(deadlines.get(limit) if isinstance(deadlines, dict) else None)
            row[f"{limit}_span"] = span_us(cal, d) if d else NO_LIMIT
            row[f"{limit}_working"] = bool(d and d.unit.is_working)
        rows.append(row)
    cols = ["item_code", "item_version"] + [
        f"{limit}_{x}" for limit in LIMITS for x in ("span", "working")
    ]
    out = pd.DataFrame(rows, columns=cols)
    for limit in LIMITS:
        out[f"{limit}_span"] = out[f"{limit}_span"].astype(np.int64)
        out[f"{limit}_working"] = out[f"{limit}_working"].astype(bool)
    return out


def rules_for(codes: pd.Series, versions: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    """The rule row of each (code, version) pair, aligned with the inputs; unknown items get
    ``NO_LIMIT`` everywhere (the audit reports them)."""
    keys = pd.DataFrame({"item_code": codes.astype(str).to_numpy(), "item_version": versions})
    keys["item_version"] = keys["item_version"].astype(np.int64)
    merged = keys.merge(table, on=["item_code", "item_version"], how="left")
    for limit in LIMITS:
        merged[f"{limit}_span"] = merged[f"{limit}_span"].fillna(NO_LIMIT).astype(np.int64)
        merged[f"{limit}_working"] = merged[f"{limit}_working"].fillna(False).astype(bool)
    merged.index = codes.index
    return merged
