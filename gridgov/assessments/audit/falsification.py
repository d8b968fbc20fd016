"""Check columns for what a department wanting a better rank would change by hand: who fired
an event (role and actor against the transition table), whether each event starts where the
previous one ended, and whether the case row (holder, rating, handling and closing times)
says what its trail says. See docs/assessment.md ("Audits").

Pure pandas/numpy over the audit extract, events sorted by (case_id, seq). Each column is True
where the row is consistent; ``problem`` columns say in words what is wrong where it is not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.assessments.extract import NEVER
from gridgov.assessments.trail import ROUTE, last_where
from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import COMMUNITY_UNIT, HANDLER_KINDS, TRANSITIONS

Mask = npt.NDArray[np.bool_]
REVIEW_KINDS = ("review_passed", "review_failed")
# Handler kinds a department fires on a case it holds; a return is fired by the holder too.
HANDLER = tuple(k.value for k in HANDLER_KINDS)


def event_checks(ev: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """``ev`` plus the event-level check columns and ``case_no``/``holder``/``problem``."""
    n = len(ev)
    case_ids = ev["case_id"].to_numpy()
    kind = _obj(ev["kind"])
    role = _obj(ev["role"])
    dept = _obj(ev["department"])
    frm = _obj(ev["from_status"])
    to = _obj(ev["to_status"])
    target = _obj(ev["target"])
    by_id = cases.set_index("id")
    case_no = _obj(by_id["case_no"].reindex(case_ids))
    community = _obj(by_id["community_code"].reindex(case_ids))

    # The holder at each event: the target of the latest dispatch/re-route at or before it.
    li_route = last_where(np.isin(kind, ROUTE), case_ids)
    holder = np.where(li_route >= 0, target[np.maximum(li_route, 0)], COMMUNITY_UNIT)
    # ... and before it (a dispatch's own actor acts on the case before it moves).
    first = np.r_[True, case_ids[1:] != case_ids[:-1]] if n else np.zeros(0, dtype=bool)
    holder_before = np.where(first, COMMUNITY_UNIT, _shift(holder, COMMUNITY_UNIT))

    # Vectorised lookups: one key per event against the table's allowed keys.
    role_ok = (
        _keys(kind, role)
        .isin({f"{k}|{r.value}" for k, t in TRANSITIONS.items() for r in t.roles})
        .to_numpy()
    )
    # Each event starts in the state the previous one left (the first starts from nothing).
    prev_to = _shift(to, None)
    prev_to[first] = None
    chained = np.asarray(frm == prev_to, dtype=bool)  # object arrays: None == None holds
    table_ok = _keys(kind, frm, to).isin(ALLOWED_STEPS).to_numpy()
    # A department acts only on the cases it holds; a community only on its own cases.
    handler = np.isin(kind, HANDLER)
    dept_role = role == Role.DEPARTMENT.value
    actor_ok = ~(handler & dept_role) | (dept == holder_before)
    comm_role = role == Role.COMMUNITY.value
    ev_comm = _obj(ev["community"])
    actor_ok &= ~comm_role | (ev_comm == community)
    actor_ok &= ~(handler & comm_role) | (holder_before == COMMUNITY_UNIT)
    # Review (复核) is independent: not by an officer of the department holding the case.
    review = np.isin(kind, REVIEW_KINDS)
    independent = ~review | pd.isna(dept) | (dept != holder_before)

    problem = np.full(n, "", dtype=object)
    for mask, words in (
        (~role_ok, "role {role} may not fire {kind}"),
        (~chained, "{kind} starts from {from_status}, the previous event ended in {prev}"),
        (~table_ok, "{kind} from {from_status} to {to_status} is not in the transition table"),
        (~actor_ok, "{kind} by {role} {department}{community} on a case held by {holder}"),
        (~independent, "{kind} by an officer of {department}, the department handling it"),
    ):
        for i in np.flatnonzero(mask):
            text = words.format(
                role=role[i],
                kind=kind[i],
                from_status=frm[i],
                to_status=to[i],
                prev=prev_to[i],
                department=dept[i] or "",
                community=ev_comm[i] or "",
                holder=holder_before[i],
            )
            problem[i] = f"{problem[i]}; {text}" if problem[i] else text
    return ev.assign(
        case_no=case_no,
        holder=holder,
        role_allowed=role_ok,
        status_chained=chained,
        transition_allowed=table_ok,
        actor_holds_case=actor_ok,
        review_independent=independent,
        problem=problem,
    )


def _obj(s: pd.Series) -> npt.NDArray[np.object_]:
    """Values as Python objects, missing ones (NaN, NA) as None."""
    o = s.astype(object)
    return np.asarray(o.where(o.notna(), None).to_numpy(), dtype=object)


def _pick(values: npt.NDArray[np.object_], pos: npt.NDArray[np.intp]) -> npt.NDArray[np.object_]:
    """``values`` at ``pos``, None where ``pos`` is -1."""
    out = np.full(len(pos), None, dtype=object)
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    return out


def _shift(values: npt.NDArray[np.object_], fill: object) -> npt.NDArray[np.object_]:
    """Each row's previous row's value (``fill`` for the first)."""
    out = np.empty(len(values), dtype=object)
    if len(values):
        out[0] = fill
        out[1:] = values[:-1]
    return out


def _keys(*columns: npt.NDArray[np.object_]) -> pd.Series:
    """``a|b|c`` per row (None as empty), for set lookups in one pass."""
    out = pd.Series(columns[0], dtype=object).fillna("").astype(str)
    for c in columns[1:]:
        out = out + "|" + pd.Series(c, dtype=object).fillna("").astype(str)
    return out


# Every (kind, from, to) the transition table allows; a kind without a target keeps the state.
ALLOWED_STEPS = frozenset(
    f"{k}|{s.value if s is not None else ''}|"
    + (t.target.value if t.target is not None else (s.value if s is not None else ""))
    for k, t in TRANSITIONS.items()
    for s in t.sources
)


def case_checks(cases: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """``cases`` plus columns comparing the case row with its trail (``ev`` from
    :func:`event_checks`): holder, rating, handling and closing times."""
    n = len(cases)
    slot = pd.Index(cases["id"]).get_indexer(ev["case_id"].to_numpy())
    kind = _obj(ev["kind"])
    at = ev["at"].to_numpy() if ev["at"].dtype == np.int64 else None

    def last(mask: Mask) -> npt.NDArray[np.intp]:
        out = np.full(n, -1, dtype=np.intp)
        pos = np.flatnonzero(mask & (slot >= 0))
        out[slot[pos]] = pos  # positions ascend: the last write per case wins
        return out

    any_ev = last(np.ones(len(ev), dtype=bool))
    trail_holder = _pick(_obj(ev["holder"]), any_ev)
    rated = last(kind == "rated")
    trail_rating = _pick(_obj(ev["rating"]), rated)
    assignee = _obj(cases["assignee"])
    rating = _obj(cases["rating"])
    out = cases.assign(
        trail_holder=trail_holder,
        holder_matches_trail=(any_ev < 0) | (assignee == trail_holder),
        trail_rating=trail_rating,
        rating_matches_trail=np.array(
            [a == b for a, b in zip(rating, trail_rating, strict=True)], dtype=bool
        ),
    )
    if at is not None:
        # handled_at is the last handling unless a rework (failed review, reopening) came after.
        handled, rework = (
            last(kind == "handled"),
            last(np.isin(kind, ("review_failed", "reopened"))),
        )
        closed = last(kind == "closed")
        for col, pos in (
            ("handled_at", np.where(handled > rework, handled, -1)),
            ("closed_at", closed),
        ):
            want = np.where(pos >= 0, at[np.maximum(pos, 0)], NEVER)
            out[f"{col}_matches_trail"] = cases[col].to_numpy() == want
    return out


def _t(v: object) -> str:
    return "none" if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) else str(v)


# Per case-level check column: what is wrong, in words, for a failing row (after timestamps
# became datetimes).
EXPLAIN_CASE = {
    "holder_matches_trail": lambda r: (
        f"the case row says {r['assignee']} holds it, its trail's last dispatch/re-route "
        f"sent it to {_t(r['trail_holder'])}"
    ),
    "rating_matches_trail": lambda r: (
        f"the case row's rating is {_t(r['rating'])}, its last callback rated "
        f"{_t(r['trail_rating'])}"
    ),
    "handled_at_matches_trail": lambda r: (
        f"handled_at {_t(r['handled_at'])} is not the time of its last handling event"
    ),
    "closed_at_matches_trail": lambda r: (
        f"closed_at {_t(r['closed_at'])} is not the time of its closing event"
    ),
}
