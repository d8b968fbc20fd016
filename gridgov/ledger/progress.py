"""Move a case one step: apply a person's answer, then every automatic step that follows.

Automatic steps get idempotency keys derived from the event that caused them, so a retried
or re-run step never dispatches, reviews or closes twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridgov.domain import keys
from gridgov.domain.commands import Answer
from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import SYSTEM, Actor, EventKind
from gridgov.domain.routing import UnsatisfiedPolicy, WaitingFor, follow_up, waiting_for
from gridgov.ledger.casebook import CaseBook, facts
from gridgov.ledger.records import CaseRecord, EventRecord

MAX_AUTOMATIC = 6  # no rule chains more steps than this; guards against a rule loop


@dataclass(frozen=True)
class StepOutcome:
    case: CaseRecord
    events: list[EventRecord]  # written by this step (replays excluded)
    waiting: WaitingFor


def answer_actor(answer: Answer) -> Actor:
    return Actor(Role(answer.role), answer.actor, answer.department, answer.community)


def advance(
    book: CaseBook,
    case_no: str,
    answer: Answer | None,
    at: datetime,
    *,
    spot_share: float,
    policy: UnsatisfiedPolicy,
) -> StepOutcome:
    written: list[EventRecord] = []
    if answer is not None:
        result = book.act(
            case_no, answer.kind, answer_actor(answer), at, answer.key, answer.payload
        )
        case, last = result.case, result.event
        if not result.replayed:
            written.append(last)
    else:
        case, last = book.get(case_no), book.trail(case_no)[-1]
    for _ in range(MAX_AUTOMATIC):
        nxt = follow_up(facts(case), EventKind(last.kind), spot_share=spot_share, policy=policy)
        if nxt is None:
            break
        result = book.act(
            case_no, nxt.kind, SYSTEM, at, keys.follow_up(case_no, last.seq, nxt.kind), nxt.payload
        )
        case, last = result.case, result.event
        if not result.replayed:
            written.append(last)
    state = waiting_for(facts(case), extension_pending=case.extension_pending, overdue=case.overdue)
    return StepOutcome(case, written, state)
