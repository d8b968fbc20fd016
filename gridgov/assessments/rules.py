"""Each item version's time limits as spans of microseconds, ready to join onto cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gridgov.assessments.codes import codes_of
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
    ``NO_LIMIT`` everywhere (the audit reports them). Looked up on integer keys (the codes'
    categories, or one factorize) rather than merged on strings: a city's month has a
    million cases and a few hundred item versions."""
    code_ids, names = codes_of(codes)
    version = versions.to_numpy().astype(np.int64)
    t_code = names.get_indexer(table["item_code"].astype(object).to_numpy())
    t_version = table["item_version"].to_numpy().astype(np.int64)
    both = np.concatenate([version, t_version])
    low = int(both.min()) if len(both) else 0
    width = int(both.max()) - low + 1 if len(both) else 1
    known = np.flatnonzero(t_code >= 0)  # the table's rows whose code some case has
    t_key = t_code[known] * width + (t_version[known] - low)
    key = np.where(code_ids >= 0, code_ids * width + (version - low), -1)
    at = pd.Index(t_key).get_indexer(key)  # -1: no such item version
    found = at >= 0
    row = np.where(found, known[np.maximum(at, 0)], -1)
    names_col = (
        codes.array
        if isinstance(codes.dtype, pd.CategoricalDtype)
        else codes.astype(str).to_numpy()
    )
    merged = pd.DataFrame({"item_code": names_col, "item_version": version})
    for limit in LIMITS:
        span = np.full(len(key), NO_LIMIT, dtype=np.int64)
        span[found] = table[f"{limit}_span"].to_numpy()[row[found]]
        working = np.zeros(len(key), dtype=bool)
        working[found] = table[f"{limit}_working"].to_numpy()[row[found]]
        merged[f"{limit}_span"] = span
        merged[f"{limit}_working"] = working
    merged.index = codes.index
    return merged
