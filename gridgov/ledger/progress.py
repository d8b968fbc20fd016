"""Move a case one step: apply a person's answer, then every automatic step that follows.

Automatic steps get idempotency keys derived from the event that caused them, so a retried
or re-run step never dispatches, reviews or closes twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from gridgov.domain import keys
from gridgov.domain.commands import Answer
from gridgov.domain.enums import CaseStatus, Role
from gridgov.domain.lifecycle import SYSTEM, Actor, EventKind
from gridgov.domain.routing import UnsatisfiedPolicy, WaitingFor, follow_up, waiting_for
from gridgov.ledger.casebook import CaseBook, facts
from gridgov.ledger.owed import Owing
from gridgov.ledger.records import ActResult, CaseRecord, EventRecord

LADDER_KINDS = frozenset({"reminded", "supervised", "escalated", "notified"})
MAX_AUTOMATIC = 6  # no rule chains more steps than this; guards against a rule loop


def waiting_now(case: CaseRecord, *, show_overdue: bool = True) -> WaitingFor:
    """Where the case waits, as a step's run reports it (overdue shown). ``show_overdue=False``
    gives the step it waits for even when overdue (a run's ``waits:`` tag: the ``overdue`` tag
    says the rest)."""
    return waiting_for(
        facts(case),
        extension_pending=case.extension_pending,
        overdue=show_overdue and case.overdue,
    )


@dataclass(frozen=True)
class StepOutcome:
    case: CaseRecord
    events: list[EventRecord]  # written by this step (replays excluded)
    waiting: WaitingFor


def answer_actor(answer: Answer) -> Actor:
    return Actor(Role(answer.role), answer.actor, answer.department, answer.community)


def record(
    book: CaseBook,
    case_no: str,
    answer: Answer,
    at: datetime,
    *,
    live: bool = False,
    owe: Owing | None = None,
) -> ActResult:
    """Record a person's ``answer`` on the case as its actor, under its key: the one way an
    answer becomes an event (gateway, launcher, a step's run, the simulator). ``live`` and
    ``owe`` as in ``CaseBook.act``."""
    return book.act(
        case_no,
        answer.kind,
        answer_actor(answer),
        at,
        answer.key,
        answer.payload,
        live=live,
        owe=owe,
    )


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
        result = record(book, case_no, answer, at)
        case, last = result.case, result.event
        if not result.replayed:
            written.append(last)
    else:
        # The report run follows the case's last recorded step (the report, or a field fix
        # sent with it), not a ladder step the sweep wrote while the run was late.
        trail = book.trail(case_no)
        last = next(e for e in reversed(trail) if e.kind not in LADDER_KINDS)
        case = book.get(case_no)
    for _ in range(MAX_AUTOMATIC):
        # Decided from the state right after ``last``, not from wherever the case is now: a
        # run that starts late (a crashed worker, a backlog) must do the same step it would
        # have done on time, and nothing when the case has moved on without it.
        after = replace(facts(case), status=CaseStatus(last.to_status))
        nxt = follow_up(after, EventKind(last.kind), spot_share=spot_share, policy=policy)
        if nxt is None:
            break
        key = keys.follow_up(case_no, last.seq, nxt.kind)
        trail = book.trail(case_no)
        done = next((e for e in trail if e.idempotency_key == key), None)
        if done is None and case.status != last.to_status:
            break  # someone moved the case on since: the step is no longer owed
        # Dated no earlier than the case's last event (a reminder may have come in between).
        moment = max(at, trail[-1].at)
        result = book.act(case_no, nxt.kind, SYSTEM, moment, key, nxt.payload)
        case, last = result.case, result.event
        if not result.replayed:
            written.append(last)
    return StepOutcome(case, written, waiting_now(case))
