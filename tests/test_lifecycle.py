"""The transition table in isolation (pure domain, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridgov.domain.enums import CaseStatus as S
from gridgov.domain.enums import Role, Tier
from gridgov.domain.errors import InvalidInput, InvalidTransition, NotPermitted
from gridgov.domain.lifecycle import (
    COMMUNITY_UNIT,
    SYSTEM,
    TRANSITIONS,
    Actor,
    CaseView,
    EventKind,
    allowed_kinds,
    decide,
)

K = EventKind
CG = Actor(Role.DEPARTMENT, "cg-officer", department="CG")
SW = Actor(Role.DEPARTMENT, "sw-officer", department="SW")


def view(
    status: S | None, tier: Tier = Tier.DEPARTMENT, assignee: str = "CG", **kw: object
) -> CaseView:
    return CaseView(status, tier, "GM-FH-FH", assignee, **kw)  # type: ignore[arg-type]


def test_every_kind_has_a_transition_and_roles() -> None:
    assert set(TRANSITIONS) == set(EventKind)
    assert all(t.roles for t in TRANSITIONS.values())


def test_happy_department_path() -> None:
    steps = [
        (None, K.CREATED, Actor(Role.PATROLLER, "p")),
        (S.REPORTED, K.DISPATCHED, SYSTEM),
        (S.DISPATCHED, K.ACKNOWLEDGED, CG),
        (S.ACKNOWLEDGED, K.ARRIVED, CG),
    ]
    expect = [S.REPORTED, S.DISPATCHED, S.ACKNOWLEDGED, S.IN_PROGRESS]
    for (status, kind, actor), want in zip(steps, expect, strict=True):
        assert decide(view(status), kind, actor) == want
    assert decide(view(S.IN_PROGRESS, arrived=True), K.HANDLED, CG) == S.HANDLED


def test_department_must_arrive_before_handling() -> None:
    with pytest.raises(InvalidTransition, match="arrived"):
        decide(view(S.ACKNOWLEDGED), K.HANDLED, CG)


def test_other_department_is_refused() -> None:
    with pytest.raises(NotPermitted) as info:
        decide(view(S.DISPATCHED), K.ACKNOWLEDGED, SW)
    assert info.value.field == "actor.department"


def test_assisting_department_may_only_assist() -> None:
    case = view(S.IN_PROGRESS, assisting=("SW",))
    assert decide(case, K.ASSISTED, SW) == S.IN_PROGRESS
    with pytest.raises(NotPermitted):
        decide(case, K.ASSISTED, CG)  # the lead is not assisting itself


def test_community_bound_to_its_territory_and_its_own_cases() -> None:
    mine = Actor(Role.COMMUNITY, "sq", community="GM-FH-FH")
    other = Actor(Role.COMMUNITY, "sq2", community="GM-GM-XX")
    assert decide(view(S.REPORTED), K.DISPATCHED, mine) == S.DISPATCHED
    with pytest.raises(NotPermitted):
        decide(view(S.REPORTED), K.DISPATCHED, other)
    with pytest.raises(NotPermitted):  # the case sits with department CG
        decide(view(S.DISPATCHED), K.ACKNOWLEDGED, mine)
    own = view(S.DISPATCHED, tier=Tier.COMMUNITY, assignee=COMMUNITY_UNIT)
    assert decide(own, K.ACKNOWLEDGED, mine) == S.ACKNOWLEDGED


def test_extension_needs_a_pending_request() -> None:
    disp = Actor(Role.DISPATCHER, "d")
    with pytest.raises(InvalidTransition):
        decide(view(S.IN_PROGRESS), K.EXTENSION_GRANTED, disp)
    assert (
        decide(view(S.IN_PROGRESS, extension_pending=True), K.EXTENSION_GRANTED, disp)
        == S.IN_PROGRESS
    )
    with pytest.raises(InvalidTransition):
        decide(view(S.IN_PROGRESS, extension_pending=True), K.EXTENSION_REQUESTED, CG)


def test_only_field_fix_closes_without_review() -> None:
    assert (
        decide(view(S.HANDLED, tier=Tier.FIELD_FIX, assignee=COMMUNITY_UNIT), K.CLOSED, SYSTEM)
        == S.CLOSED
    )
    with pytest.raises(InvalidTransition):
        decide(view(S.HANDLED), K.CLOSED, SYSTEM)


def test_actor_validation() -> None:
    with pytest.raises(InvalidInput) as info:
        Actor(Role.DEPARTMENT, "x")
    assert info.value.field == "actor.department"


STATUSES = st.sampled_from([None, *S])
KINDS = st.sampled_from(list(EventKind))
ROLES = st.sampled_from(list(Role))


@given(STATUSES, KINDS, ROLES)
def test_decide_is_total(status: S | None, kind: EventKind, role: Role) -> None:
    """Any (state, kind, role) either yields a state the table allows or a typed refusal."""
    actor = Actor(
        role,
        "a",
        department="CG" if role == Role.DEPARTMENT else None,
        community="GM-FH-FH" if role == Role.COMMUNITY else None,
    )
    case = view(status, arrived=True)
    try:
        out = decide(case, kind, actor)
    except (InvalidTransition, NotPermitted):
        return
    t = TRANSITIONS[kind]
    assert status in t.sources and role in t.roles
    assert out == (t.target or status)
    assert kind in allowed_kinds(case)


def test_closed_and_cancelled_are_final_for_work() -> None:
    for status in (S.CLOSED, S.CANCELLED):
        kinds = set(allowed_kinds(view(status)))
        # bookkeeping only: a recount keeps the assessment's due times right (docs/calendar.md)
        assert kinds == {K.NOTIFIED, K.DEADLINE_RECOUNTED}
