"""The closed loop (闭环) as one transition table.

巡纠 → 上报 → 分拨 → 处置 → 督办 → 复核 → 评价 → 结案. Every change of a case is an event
kind in this table: the states it may fire from, the state it leads to (``None`` keeps the
state), and the roles that may fire it. ``decide`` checks a proposed event against the table
and against who the actor is; it raises and changes nothing when the event is not allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gridgov.domain.enums import CaseStatus as S
from gridgov.domain.enums import Role as R
from gridgov.domain.enums import Tier
from gridgov.domain.errors import InvalidInput, InvalidTransition, NotPermitted
from gridgov.domain.tiers import COMMUNITY_UNIT as COMMUNITY_UNIT  # re-exported: its old home
from gridgov.domain.tiers import path


class EventKind(StrEnum):
    CREATED = "created"  # 上报
    DISPATCHED = "dispatched"  # 分拨 / 吹哨派单
    ACKNOWLEDGED = "acknowledged"  # 签收
    RETURNED = "returned"  # 退单
    REROUTED = "rerouted"  # 改派 (or taken back by the community)
    RETURN_REFUSED = "return_refused"  # 退单驳回: the department must handle it after all
    ARRIVED = "arrived"  # 到场
    ASSISTED = "assisted"  # an assisting department reports its part
    EXTENSION_REQUESTED = "extension_requested"  # 申请延期
    EXTENSION_GRANTED = "extension_granted"
    EXTENSION_REFUSED = "extension_refused"
    HANDLED = "handled"  # 处置完成 (with evidence); for tier 1, fixed on the spot
    REVIEW_STARTED = "review_started"
    REVIEW_PASSED = "review_passed"  # 复核通过
    REVIEW_FAILED = "review_failed"  # 复核不通过 → 返工
    RATED = "rated"  # 回访评价
    REOPENED = "reopened"  # unsatisfied callback → rework
    CLOSED = "closed"  # 结案
    CANCELLED = "cancelled"  # 作废
    REMINDED = "reminded"  # 提醒 (before the deadline)
    SUPERVISED = "supervised"  # 督办 (at the deadline)
    ESCALATED = "escalated"  # 升级 (past the deadline)
    NOTIFIED = "notified"  # a notification was queued (outbox)
    DEADLINE_RECOUNTED = "deadline_recounted"  # 时限重算: holiday data for a provisional year


HANDLER_KINDS = frozenset(
    {
        EventKind.ACKNOWLEDGED,
        EventKind.RETURNED,
        EventKind.ARRIVED,
        EventKind.EXTENSION_REQUESTED,
        EventKind.HANDLED,
    }
)
ANY_OPEN = frozenset(s for s in S if s.is_open)
WORKING = frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.REWORK})


@dataclass(frozen=True, slots=True)
class Transition:
    kind: EventKind
    sources: frozenset[S | None]
    target: S | None  # None: the state does not change
    roles: frozenset[R]


def _t(
    kind: EventKind, sources: frozenset[S | None] | set[S | None], target: S | None, *roles: R
) -> Transition:
    return Transition(kind, frozenset(sources), target, frozenset(roles))


TRANSITIONS: Mapping[EventKind, Transition] = {
    t.kind: t
    for t in (
        _t(
            EventKind.CREATED,
            {None},
            S.REPORTED,
            R.PATROLLER,
            R.CITIZEN,
            R.DISPATCHER,
            R.COMMUNITY,
            R.DEPARTMENT,
            R.MACHINE,
            R.SYSTEM,
        ),
        _t(EventKind.DISPATCHED, {S.REPORTED}, S.DISPATCHED, R.DISPATCHER, R.COMMUNITY, R.SYSTEM),
        _t(EventKind.ACKNOWLEDGED, {S.DISPATCHED}, S.ACKNOWLEDGED, R.DEPARTMENT, R.COMMUNITY),
        _t(
            EventKind.RETURNED,
            {S.DISPATCHED, S.ACKNOWLEDGED},
            S.RETURNED,
            R.DEPARTMENT,
            R.COMMUNITY,
        ),
        _t(EventKind.REROUTED, {S.RETURNED}, S.DISPATCHED, R.DISPATCHER, R.COMMUNITY),
        _t(EventKind.RETURN_REFUSED, {S.RETURNED}, S.DISPATCHED, R.DISPATCHER, R.COMMUNITY),
        _t(EventKind.ARRIVED, {S.ACKNOWLEDGED}, S.IN_PROGRESS, R.DEPARTMENT, R.COMMUNITY),
        _t(EventKind.ASSISTED, WORKING | {S.DISPATCHED}, None, R.DEPARTMENT),
        _t(EventKind.EXTENSION_REQUESTED, WORKING, None, R.DEPARTMENT, R.COMMUNITY),
        _t(EventKind.EXTENSION_GRANTED, WORKING, None, R.DISPATCHER, R.SUPERVISOR),
        _t(EventKind.EXTENSION_REFUSED, WORKING, None, R.DISPATCHER, R.SUPERVISOR),
        _t(
            EventKind.HANDLED,
            WORKING | {S.REPORTED},
            S.HANDLED,
            R.DEPARTMENT,
            R.COMMUNITY,
            R.PATROLLER,
        ),
        _t(EventKind.REVIEW_STARTED, {S.HANDLED}, S.UNDER_REVIEW, R.REVIEWER, R.SYSTEM),
        _t(EventKind.REVIEW_PASSED, {S.UNDER_REVIEW}, S.EVALUATING, R.REVIEWER),
        _t(EventKind.REVIEW_FAILED, {S.UNDER_REVIEW}, S.REWORK, R.REVIEWER),
        _t(EventKind.RATED, {S.EVALUATING}, None, R.CITIZEN, R.SYSTEM),
        _t(EventKind.REOPENED, {S.EVALUATING}, S.REWORK, R.SYSTEM, R.DISPATCHER),
        _t(
            EventKind.CLOSED,
            {S.EVALUATING, S.HANDLED},
            S.CLOSED,
            R.SYSTEM,
            R.DISPATCHER,
            R.REVIEWER,
        ),
        _t(EventKind.CANCELLED, ANY_OPEN, S.CANCELLED, R.DISPATCHER, R.SUPERVISOR),
        _t(EventKind.REMINDED, ANY_OPEN, None, R.SYSTEM, R.SUPERVISOR),
        _t(EventKind.SUPERVISED, ANY_OPEN, None, R.SYSTEM, R.SUPERVISOR),
        _t(EventKind.ESCALATED, ANY_OPEN, None, R.SYSTEM, R.SUPERVISOR),
        _t(EventKind.NOTIFIED, ANY_OPEN | {S.CLOSED, S.CANCELLED}, None, R.SYSTEM),
        _t(
            EventKind.DEADLINE_RECOUNTED,
            ANY_OPEN | {S.CLOSED, S.CANCELLED},
            None,
            R.SYSTEM,
            R.SUPERVISOR,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who fires an event. Departments and communities are bound to their own unit."""

    role: R
    name: str
    department: str | None = None
    community: str | None = None

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 120:
            raise InvalidInput("actor name must be 1–120 characters", field="actor.name")
        if self.role == R.DEPARTMENT and not self.department:
            raise InvalidInput(
                "a department actor needs its department code", field="actor.department"
            )
        if self.role == R.COMMUNITY and not self.community:
            raise InvalidInput(
                "a community actor needs its community code", field="actor.community"
            )


SYSTEM = Actor(R.SYSTEM, "gridgov")


@dataclass(frozen=True, slots=True)
class CaseView:
    """What the rules need to know about a case (a snapshot of its ledger row)."""

    status: S | None
    tier: Tier
    community: str
    assignee: str  # department code, or COMMUNITY_UNIT
    assisting: tuple[str, ...] = ()
    extension_pending: bool = False
    arrived: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def _check_actor(case: CaseView, kind: EventKind, actor: Actor) -> None:
    if actor.role == R.COMMUNITY and actor.community != case.community:
        raise NotPermitted(
            f"community {actor.community} may not act on a case of community {case.community}",
            field="actor.community",
        )
    if actor.role == R.COMMUNITY and kind in HANDLER_KINDS and case.assignee != COMMUNITY_UNIT:
        raise NotPermitted(
            f"the case is assigned to department {case.assignee}, not the community",
            field="actor.community",
        )
    if actor.role != R.DEPARTMENT or kind == EventKind.CREATED:
        return
    if kind == EventKind.ASSISTED:
        if actor.department not in case.assisting:
            raise NotPermitted(
                f"department {actor.department} is not assisting on this case",
                field="actor.department",
            )
        return
    if actor.department != case.assignee:
        raise NotPermitted(
            f"department {actor.department} may not act on a case assigned to {case.assignee}",
            field="actor.department",
        )


def _check_guards(case: CaseView, kind: EventKind, actor: Actor) -> None:
    status = case.status
    if actor.role == R.PATROLLER and kind == EventKind.HANDLED and status != S.REPORTED:
        raise NotPermitted("a patroller reports field fixes only", field="actor.role")
    if kind == EventKind.HANDLED:
        if status == S.REPORTED and path(case.tier).dispatched_at_once:
            raise InvalidTransition(
                "only field-fix (tier 1) items are handled straight from 'reported'", field="status"
            )
        if status == S.REPORTED and actor.role != R.PATROLLER:
            raise NotPermitted("a field fix is reported by the patroller", field="actor.role")
        if path(case.tier).arrival_required and status == S.ACKNOWLEDGED and not case.arrived:
            raise InvalidTransition(
                "a department case must be arrived on site before it is handled", field="status"
            )
    if (
        kind == EventKind.ACKNOWLEDGED
        and case.assignee == COMMUNITY_UNIT
        and actor.role == R.DEPARTMENT
    ):
        raise NotPermitted("the case is assigned to the community", field="actor.role")
    if kind == EventKind.EXTENSION_REQUESTED and case.extension_pending:
        raise InvalidTransition("an extension request is already pending", field="status")
    if (
        kind in (EventKind.EXTENSION_GRANTED, EventKind.EXTENSION_REFUSED)
        and not case.extension_pending
    ):
        raise InvalidTransition("no extension request is pending", field="status")
    if (
        kind == EventKind.CLOSED
        and status == S.HANDLED
        and not path(case.tier).closes_without_review(status)
    ):
        raise InvalidTransition("only a field fix may close without review", field="status")


def decide(case: CaseView, kind: EventKind, actor: Actor) -> S | None:
    """Check ``kind`` by ``actor`` on ``case``; return the resulting status.

    Raises :class:`InvalidTransition` or :class:`NotPermitted`; never changes anything.
    """
    transition = TRANSITIONS[kind]
    if case.status not in transition.sources:
        allowed = ", ".join(sorted(str(s) for s in transition.sources if s)) or "a new case"
        raise InvalidTransition(
            f"cannot {kind.value} a case that is {case.status or 'not yet created'}; "
            f"allowed from: {allowed}",
            field="status",
        )
    if actor.role not in transition.roles:
        raise NotPermitted(
            f"role {actor.role.value} may not fire {kind.value}; allowed: "
            + ", ".join(sorted(r.value for r in transition.roles)),
            field="actor.role",
        )
    _check_actor(case, kind, actor)
    _check_guards(case, kind, actor)
    return transition.target if transition.target is not None else case.status


def allowed_kinds(case: CaseView) -> list[EventKind]:
    """The event kinds the table allows from the case's state (ignoring who acts)."""
    return [k for k, t in TRANSITIONS.items() if case.status in t.sources]
