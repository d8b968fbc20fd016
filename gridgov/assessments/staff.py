"""People (event actors in a patroller, community or department role) and their cases.

A person's *cases* are the month's due cases they handled (fired ``handled`` on, at any time
before the cutoff); their volume counts are their own events in the month. Sunk staff are
scored ``local_share`` by their community and grid (the mean of the two unit scores) and
``street_share`` by the street's scoring of their own record (the staff criteria).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridgov.assessments.extract import STAFF_ROLES
from gridgov.assessments.facts import Facts
from gridgov.assessments.kpi import _ratio
from gridgov.assessments.scheme import StaffScheme
from gridgov.assessments.scoring import rank_and_flag, score_table


def _mode(frame: pd.DataFrame, keys: list[str], col: str) -> pd.Series:
    """Per person, the most frequent value of ``col`` (ties: the smallest code)."""
    sub = frame[[*keys, col]].dropna()
    if sub.empty:
        return pd.Series(dtype=object)
    counts = sub.groupby([*keys, col], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values([*keys, "n", col], ascending=[True] * len(keys) + [False, True])
    return counts.drop_duplicates(keys).set_index(keys)[col].astype(object)


def staff_table(f: Facts) -> pd.DataFrame:
    ev = f.events
    ev = ev[ev["role"].isin(STAFF_ROLES).to_numpy()]
    keys = ["actor", "role"]
    if ev.empty:
        return pd.DataFrame(columns=[*keys, "unit", "community_code", "grid_code", "street_code"])
    ev = ev.assign(
        actor=ev["actor"].astype(object),
        role=ev["role"].astype(object),
        # A department's people act on their own department's cases (the holder), except
        # when assisting, where the event names their department.
        unit=np.where(
            ev["role"].astype(object) == "department",
            ev["department"]
            .astype(object)
            .where(ev["department"].notna(), ev["holder"].astype(object)),
            ev["community_code"].astype(object),
        ),
    )
    kind = ev["kind"]
    counts = pd.DataFrame(
        {
            "actor": ev["actor"],
            "role": ev["role"],
            "actions": 1,
            "reported": (kind == "created").to_numpy(),
            "field_fixes": ((kind == "handled") & (ev["tier"] == 1)).to_numpy(),
            "handled": (kind == "handled").to_numpy(),
        }
    )
    table = counts.groupby(keys).sum()
    table["cases"] = ev.groupby(keys)["case_id"].nunique()
    for col in ("unit", "community_code", "grid_code", "street_code"):
        table[col] = _mode(ev, keys, col)
    table = table.join(_handled_outcomes(f), how="left")
    for c in ("handled_due", "handled_on_time", "handled_overdue", "handled_reworked"):
        table[c] = table[c].fillna(0).astype(np.int64)
    for c in ("rated", "satisfied_or_basically"):
        table[c] = table[c].fillna(0).astype(np.int64)
    table["on_time_closure_rate"] = _ratio(table["handled_on_time"], table["handled_due"])
    table["overdue_rate"] = _ratio(table["handled_overdue"], table["handled_due"])
    table["rework_rate"] = _ratio(table["handled_reworked"], table["handled_due"])
    table["satisfaction_rate"] = _ratio(table["satisfied_or_basically"], table["rated"])
    return table.reset_index()


def _handled_outcomes(f: Facts) -> pd.DataFrame:
    """Outcomes of the due cases each person handled (a case handled twice, e.g. after
    rework by someone else, counts for both)."""
    h = f.handlers.drop_duplicates()
    cf = f.cases
    if h.empty:
        return pd.DataFrame(
            columns=[
                "handled_due",
                "handled_on_time",
                "handled_overdue",
                "handled_reworked",
                "rated",
                "satisfied_or_basically",
            ]
        )
    o = cf.reindex(h["case_id"].to_numpy())
    rating = o["rating"].astype(object)
    data = pd.DataFrame(
        {
            "actor": h["actor"].to_numpy(),
            "role": h["role"].to_numpy(),
            "handled_due": 1,
            "handled_on_time": o["on_time"].to_numpy(dtype=bool),
            "handled_overdue": o["overdue"].to_numpy(dtype=bool),
            "handled_reworked": o["reworked"].to_numpy(dtype=bool),
            "rated": rating.notna().to_numpy(),
            "satisfied_or_basically": rating.isin(("satisfied", "basically_satisfied")).to_numpy(),
        }
    )
    return data.groupby(["actor", "role"]).sum()


def score_staff(
    staff: pd.DataFrame, scheme: StaffScheme, grid: pd.DataFrame, community: pd.DataFrame
) -> pd.DataFrame:
    """``personal_score`` from the staff criteria, ``local_score`` = mean of the person's
    grid and community scores; ``score`` = local_share·local + street_share·personal (either
    alone when the other is missing)."""
    if staff.empty:
        return staff.assign(personal_score=[], local_score=[], score=[], rank=[], flag=[])
    scored = score_table(staff, scheme).rename(columns={"score": "personal_score"})
    g = staff["grid_code"].map(grid["score"]).astype(float)
    c = staff["community_code"].map(community["score"]).astype(float)
    local = pd.concat([g, c], axis=1).mean(axis=1, skipna=True)
    personal = scored["personal_score"]
    combined = scheme.local_share * local + scheme.street_share * personal
    scored["local_score"] = local.round(2)
    scored["score"] = combined.fillna(local).fillna(personal).round(2)
    return rank_and_flag(scored.drop(columns=["rank", "flag"]), scheme)
