"""Weighted scores, rankings and red/yellow flags from a scheme (pure pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridgov.assessments.scheme import LevelScheme


def points(values: pd.Series, weight: float, full_at: float, zero_at: float) -> pd.Series:
    """Linear from ``zero_at`` (0 points) to ``full_at`` (``weight``), clipped; NaN stays NaN."""
    share = ((values.astype(float) - zero_at) / (full_at - zero_at)).clip(0.0, 1.0)
    return share * weight + 0.0  # + 0.0: no negative zeros in reports


def score_table(table: pd.DataFrame, scheme: LevelScheme) -> pd.DataFrame:
    """Add ``pts_<metric>`` per criterion, ``score`` (0–100), ``rank`` and ``flag``.

    A criterion whose metric is NaN (no cases to measure) is left out and the others are
    re-weighted, so a department is not punished for what it was never asked to do. Units
    with less volume than ``flags.min_volume`` get a score but no rank and no flag.
    """
    out = table.copy()
    earned = pd.Series(0.0, index=out.index)
    possible = pd.Series(0.0, index=out.index)
    for c in scheme.criteria:
        p = points(out[c.metric], c.weight, c.full_at, c.zero_at)
        out[f"pts_{c.metric}"] = p
        earned += p.fillna(0.0)
        possible += p.notna() * c.weight
    out["score"] = (100 * earned / possible.where(possible > 0)).round(2)
    return rank_and_flag(out, scheme)


def rank_and_flag(out: pd.DataFrame, scheme: LevelScheme) -> pd.DataFrame:
    f = scheme.flags
    eligible = out["score"].notna() & (out[f.volume].fillna(0) >= f.min_volume)
    rank = out["score"].where(eligible).rank(ascending=False, method="min")
    out["rank"] = rank.astype("Int64")
    flag = np.where(
        eligible & (out["score"] < f.red_below),
        "red",
        np.where(eligible & (out["score"] < f.yellow_below), "yellow", ""),
    )
    out["flag"] = flag
    return out
