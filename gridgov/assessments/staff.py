"""People (event actors in a patroller, community or department role) and their cases.

A person's *cases* are the month's due cases they handled (fired ``handled`` on, at any time
before the cutoff); their volume counts are their own events in the month. Sunk staff are
scored ``local_share`` by their community and grid (the mean of the two unit scores) and
``street_share`` by the street's scoring of their own record (the staff criteria).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.assessments.codes import Codes, codes_of
from gridgov.assessments.extract import STAFF_ROLES
from gridgov.assessments.facts import Facts
from gridgov.assessments.kpi import _ratio
from gridgov.assessments.scheme import StaffScheme
from gridgov.assessments.scoring import rank_and_flag, score_table


def _coded(s: pd.Series, vocab: pd.Index | None = None) -> tuple[Codes, pd.Index]:
    """Integer codes of ``s`` into ``vocab`` (sorted; default: the values of ``s``), -1 where
    missing or not in ``vocab``. Sorted codes sort as the strings do, so a table keyed by codes
    comes out in the order a groupby on the strings gives; a categorical column costs one
    look-up per category, not per row."""
    raw, cats = codes_of(s)
    if vocab is None:
        vocab = pd.Index(np.sort(cats.to_numpy()), dtype=object)
    remap = np.append(vocab.get_indexer(cats), -1).astype(np.int64)  # raw -1 (missing) → -1
    return remap[raw], vocab


def _distinct(keys: Codes) -> Codes:
    """The distinct keys, sorted. By sorting: numpy 2.4's ``np.unique`` without flags hashes,
    6.5 s against 0.3 s for 4 M int64 keys here."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _mode(slot: Codes, values: Codes, vocab: pd.Index) -> tuple[Codes, npt.NDArray[Any]]:
    """Per slot with any value: the most frequent of ``values`` (ties: the smallest, i.e. the
    first in sort order). Returns (the slots, their values)."""
    ok = (slot >= 0) & (values >= 0)
    width = max(len(vocab), 1)
    pairs, counts = np.unique(slot[ok] * width + values[ok], return_counts=True)
    who, what = pairs // width, pairs % width
    order = np.lexsort((what, -counts, who))
    who, what = who[order], what[order]
    first = np.r_[True, who[1:] != who[:-1]] if len(who) else np.zeros(0, dtype=bool)
    return who[first], vocab.to_numpy()[what[first]]


def staff_table(f: Facts) -> pd.DataFrame:
    """Per person (actor, role): volume counts, the usual unit/community/grid/street, the
    outcomes of the due cases they handled and the rates. Counted on integer codes (one
    ``np.unique`` of the (person) keys, then bincounts): groupbys on the string columns cost
    seconds on a city's month."""
    ev = f.events
    keys = ["actor", "role"]
    ev = ev[ev["role"].isin(STAFF_ROLES).to_numpy()]
    if ev.empty:
        return pd.DataFrame(columns=[*keys, "unit", "community_code", "grid_code", "street_code"])
    actor, actors = _coded(ev["actor"])
    role, roles = _coded(ev["role"])
    ok = (actor >= 0) & (role >= 0)
    width = len(roles)
    people, slot = np.unique(actor[ok] * width + role[ok], return_inverse=True)
    ev = ev[ok]
    n = len(people)
    index = pd.MultiIndex.from_arrays(
        [actors.to_numpy()[people // width], roles.to_numpy()[people % width]], names=keys
    )
    kind = ev["kind"]
    handled = (kind == "handled").to_numpy()

    def per_person(mask: npt.NDArray[np.bool_]) -> Codes:
        return np.bincount(slot[mask], minlength=n).astype(np.int64)

    table = pd.DataFrame(
        {
            "actions": np.bincount(slot, minlength=n).astype(np.int64),
            "reported": per_person((kind == "created").to_numpy()),
            "field_fixes": per_person(handled & (ev["tier"] == 1).to_numpy()),
            "handled": per_person(handled),
        },
        index=index,
    )
    case_id = ev["case_id"].to_numpy().astype(np.int64)
    span = int(case_id.max()) + 1 if len(case_id) else 1
    person_case = _distinct(slot * span + case_id)
    table["cases"] = np.bincount(person_case // span, minlength=n).astype(np.int64)
    # A department's people act on their own department's cases (the holder), except when
    # assisting, where the event names their department.
    parts = [ev[c] for c in ("department", "holder", "community_code")]
    vocab = pd.Index(
        np.sort(pd.unique(np.concatenate([_coded(p)[1].to_numpy() for p in parts]))), dtype=object
    )
    dept, holder, community = (_coded(p, vocab)[0] for p in parts)
    unit = np.where(
        (ev["role"] == "department").to_numpy(), np.where(dept >= 0, dept, holder), community
    )
    for col, values, names in (
        ("unit", unit, vocab),
        *((c, *_coded(ev[c])) for c in ("community_code", "grid_code", "street_code")),
    ):
        who, what = _mode(slot, values, names)
        table[col] = pd.Series(what, index=index[who], dtype=object)
    table = table.join(_handled_outcomes(f, index), how="left")
    table["on_time_closure_rate"] = _ratio(table["handled_on_time"], table["handled_due"])
    table["overdue_rate"] = _ratio(table["handled_overdue"], table["handled_due"])
    table["rework_rate"] = _ratio(table["handled_reworked"], table["handled_due"])
    table["satisfaction_rate"] = _ratio(table["satisfied_or_basically"], table["rated"])
    return table.reset_index()


OUTCOMES = (
    "handled_due",
    "handled_on_time",
    "handled_overdue",
    "handled_reworked",
    "rated",
    "satisfied_or_basically",
)


def _handled_outcomes(f: Facts, people: pd.MultiIndex) -> pd.DataFrame:
    """Per person of ``people``: outcomes of the due cases they handled (a case handled twice,
    e.g. after rework by someone else, counts for both; twice by the same person, once)."""
    h = f.handlers
    actors, roles = (pd.Index(lvl, dtype=object) for lvl in people.levels)
    actor = _coded(h["actor"], actors)[0]
    role = _coded(h["role"], roles)[0]
    width = len(roles)
    key = np.where((actor >= 0) & (role >= 0), actor * width + role, -1)
    person_key = people.codes[0].astype(np.int64) * width + people.codes[1]
    # ``people`` is sorted (np.unique made it), so its keys are too.
    pos = np.searchsorted(person_key, key)
    slot = np.where(
        (key >= 0)
        & (pos < len(person_key))
        & (person_key[np.minimum(pos, len(person_key) - 1)] == key),
        pos,
        -1,
    )
    case_id = h["case_id"].to_numpy().astype(np.int64)
    mine = slot >= 0
    slot, case_id = slot[mine], case_id[mine]
    span = int(case_id.max()) + 1 if len(case_id) else 1
    pairs = _distinct(slot * span + case_id)  # each (person, case) once
    slot, case_id = pairs // span, pairs % span
    cf = f.cases
    at = cf.index.get_indexer(case_id)
    rating = cf["rating"].astype(object)
    per_case = {
        "handled_due": np.ones(len(cf), dtype=bool),
        "handled_on_time": cf["on_time"].to_numpy(dtype=bool),
        "handled_overdue": cf["overdue"].to_numpy(dtype=bool),
        "handled_reworked": cf["reworked"].to_numpy(dtype=bool),
        "rated": rating.notna().to_numpy(),
        "satisfied_or_basically": rating.isin(("satisfied", "basically_satisfied")).to_numpy(),
    }
    n = len(people)
    return pd.DataFrame(
        {
            c: np.bincount(slot, weights=v[at], minlength=n).astype(np.int64)
            for c, v in per_case.items()
        },
        index=people,
    )


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
