"""What happens on its own after each step of the loop, and who hears about it.

Pure rules: given the case after an event, list the system events that follow (dispatch on
report, review after handling, closing or callback after review, the unsatisfied-callback
policy) and the notices to send. Flows, the API and the inline simulator all use them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gridgov.domain.enums import CaseStatus as S
from gridgov.domain.enums import Rating, Source, Tier
from gridgov.domain.lifecycle import COMMUNITY_UNIT, EventKind
from gridgov.domain.tiers import path

K = EventKind
CALLBACK_SOURCES = frozenset({Source.CITIZEN.value, Source.HOTLINE.value})


class UnsatisfiedPolicy(StrEnum):
    REOPEN = "reopen"  # an unsatisfied callback sends the case back for rework
    RECORD = "record"  # it is recorded (and counted) but the case closes


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """The few facts about a case that the rules look at."""

    case_no: str
    status: S
    tier: Tier
    source: str
    assignee: str
    community: str
    assisting: tuple[str, ...] = ()
    reporter: str = ""
    rating: str | None = None


@dataclass(frozen=True, slots=True)
class FollowUp:
    kind: EventKind
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # what happened, e.g. "dispatched", "review_needed"
    recipient: str  # "department:CG", "community:GM-FH-FH", "reviewer:GM-FH-FH", "citizen:…"
    body: dict[str, Any] = field(default_factory=dict)


def spot_checked(case_no: str, share: float) -> bool:
    """Deterministic spot-check draw, so a retried step draws the same way."""
    digest = hashlib.sha256(case_no.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def follow_up(
    case: CaseFacts, last: EventKind, *, spot_share: float, policy: UnsatisfiedPolicy
) -> FollowUp | None:
    """The next automatic event after ``last``, or None when the case waits for a person."""
    tier = path(case.tier)
    if case.status == S.REPORTED and tier.dispatched_at_once:
        return FollowUp(K.DISPATCHED)  # 社区发令: community items to the grid team, else whistle
    if case.status == S.HANDLED:
        if tier.closes_without_review(case.status) and not spot_checked(case.case_no, spot_share):
            return FollowUp(K.CLOSED, {"reason": "field fix, not drawn for spot check"})
        return FollowUp(K.REVIEW_STARTED, {"spot_check": tier.spot_check})
    if case.status == S.EVALUATING:
        if last == K.REVIEW_PASSED and case.source not in CALLBACK_SOURCES:
            return FollowUp(K.CLOSED, {"reason": "review passed"})
        if last == K.RATED:
            if case.rating == Rating.UNSATISFIED and policy == UnsatisfiedPolicy.REOPEN:
                return FollowUp(K.REOPENED, {"reason": "citizen unsatisfied"})
            return FollowUp(K.CLOSED, {"reason": f"callback: {case.rating}"})
    return None


def _handler(case: CaseFacts) -> str:
    if case.assignee == COMMUNITY_UNIT:
        return f"community:{case.community}"
    return f"department:{case.assignee}"


def _chaser(case: CaseFacts) -> str:
    """Who a ladder step is sent to: the handler, or, once the case waits for the citizen's
    callback (evaluating), the dispatch centre that makes the callback."""
    if case.status == S.EVALUATING:
        return f"dispatcher:{case.community}"
    return _handler(case)


def notices(case: CaseFacts, last: EventKind) -> list[Notice]:
    """Who is told about ``last`` (already applied to ``case``)."""
    body = {"case_no": case.case_no, "status": case.status.value, "event": last.value}
    out: list[Notice] = []
    if last in (K.DISPATCHED, K.REROUTED, K.RETURN_REFUSED):
        out.append(Notice("dispatched", _handler(case), body))
        out += [
            Notice("assist_requested", f"department:{d}", body)
            for d in case.assisting
            if last == K.DISPATCHED and path(case.tier).lead_handles
        ]
    elif last in (K.RETURNED, K.EXTENSION_REQUESTED):
        out.append(Notice(f"{last.value}", f"dispatcher:{case.community}", body))
    elif last in (K.EXTENSION_GRANTED, K.EXTENSION_REFUSED, K.REVIEW_FAILED, K.REOPENED):
        out.append(Notice(last.value, _handler(case), body))
    elif last == K.REVIEW_STARTED:
        out.append(Notice("review_needed", f"reviewer:{case.community}", body))
    elif last == K.REVIEW_PASSED and case.source in CALLBACK_SOURCES:
        out.append(Notice("rating_requested", f"citizen:{case.reporter}", body))
    elif last in (K.REMINDED, K.SUPERVISED):
        out.append(Notice(last.value, _chaser(case), body))
    elif last == K.ESCALATED:
        out.append(Notice("escalated", _chaser(case), body))
        out.append(Notice("escalated", f"leadership:{case.community}", body))
    if last == K.CREATED and case.source in CALLBACK_SOURCES:
        out.append(Notice("received", f"citizen:{case.reporter}", body))  # SMS within 10 min
    return out


class WaitingFor(StrEnum):
    """Prefect state names that tell a supervisor where a case waits."""

    DISPATCH = "AwaitingDispatch"
    DEPARTMENT = "AwaitingDepartment"
    COMMUNITY = "AwaitingCommunity"
    ARRIVAL = "AwaitingArrival"
    COMPLETION = "AwaitingCompletion"
    REROUTE = "AwaitingReroute"
    EXTENSION = "AwaitingExtensionDecision"
    REVIEW = "AwaitingReview"
    REWORK = "Rework"
    RATING = "AwaitingRating"
    FIX = "AwaitingFieldFix"
    OVERDUE = "Overdue"
    CLOSED = "Closed"
    CANCELLED = "Cancelled"


def waiting_for(
    case: CaseFacts, *, extension_pending: bool = False, overdue: bool = False
) -> WaitingFor:
    s = case.status
    if s == S.CLOSED:
        return WaitingFor.CLOSED
    if s == S.CANCELLED:
        return WaitingFor.CANCELLED
    if overdue:
        return WaitingFor.OVERDUE
    if extension_pending:
        return WaitingFor.EXTENSION
    by_status = {
        S.REPORTED: WaitingFor.DISPATCH if path(case.tier).dispatched_at_once else WaitingFor.FIX,
        S.DISPATCHED: WaitingFor.COMMUNITY
        if case.assignee == COMMUNITY_UNIT
        else WaitingFor.DEPARTMENT,
        S.ACKNOWLEDGED: WaitingFor.ARRIVAL
        if path(case.tier).arrival_required
        else WaitingFor.COMPLETION,
        S.IN_PROGRESS: WaitingFor.COMPLETION,
        S.RETURNED: WaitingFor.REROUTE,
        S.HANDLED: WaitingFor.REVIEW,
        S.UNDER_REVIEW: WaitingFor.REVIEW,
        S.REWORK: WaitingFor.REWORK,
        S.EVALUATING: WaitingFor.RATING,
    }
    return by_status[s]
