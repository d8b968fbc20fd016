"""督办 sweep: find what is due on the supervision ladder and act on it in bulk.

One indexed range query (``next_sweep_at <= now``) picks the cases; events, notices and case
updates are written with executemany in one transaction per batch. The cost grows with the
number of cases due, not with all cases. Event keys are derived from the case, its clock and
the ladder step, so two sweeps at the same moment act once: the second finds nothing due, or,
if they race, its batch fails on the unique key and is re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gridgov.domain.deadlines import Clock
from gridgov.domain.enums import CaseStatus, DeadlineKind, Tier, TimeUnit
from gridgov.domain.lifecycle import SYSTEM, Actor
from gridgov.domain.routing import CaseFacts, notices
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.db import transaction
from gridgov.ledger.models import Case, CaseEvent, Notification


@dataclass(frozen=True)
class SweepAction:
    case_no: str
    step: str  # reminded | supervised | escalated
    clock: str
    due: datetime
    assignee: str
    community: str
    overdue: bool


COLUMNS = (
    Case.id,
    Case.case_no,
    Case.status,
    Case.tier,
    Case.source,
    Case.assignee,
    Case.community_code,
    Case.assisting,
    Case.reporter,
    Case.clock_kind,
    Case.clock_start,
    Case.handled_at,
    Case.clock_due,
    Case.clock_unit,
    Case.ladder_done,
    Case.overdue,
    Case.overdue_since,
    Case.row_version,
)


def sweep(
    book: CaseBook, now: datetime, *, actor: Actor = SYSTEM, batch: int = 20_000, attempts: int = 3
) -> list[SweepAction]:
    """Fire every ladder step due by ``now``; return what was done."""
    done: list[SweepAction] = []
    for _ in range(1000):  # batches; each pass moves every picked case past ``now`` or off
        for attempt in range(attempts):
            try:
                actions, picked = _sweep_batch(book, now, actor, batch)
                break
            except IntegrityError:  # a concurrent sweep took some of these: read again
                if attempt == attempts - 1:
                    raise
        done += actions
        if picked < batch:
            break
    return done


def _sweep_batch(
    book: CaseBook, now: datetime, actor: Actor, batch: int
) -> tuple[list[SweepAction], int]:
    cal, ladder = book.calendar, book.ladder
    overdue_from = ladder.overdue_index()
    with transaction(book.factory) as s:
        rows = s.execute(
            select(*COLUMNS)
            .where(Case.next_sweep_at <= now)
            .order_by(Case.next_sweep_at)
            .limit(batch)
        ).all()
        if not rows:
            return [], 0
        ids = [r.id for r in rows]
        seqs: dict[int, int] = {
            case_id: seq
            for case_id, seq in s.execute(
                select(CaseEvent.case_id, func.max(CaseEvent.seq))
                .where(CaseEvent.case_id.in_(ids))
                .group_by(CaseEvent.case_id)
            )
        }
        recorded = datetime.now(UTC)
        events: list[dict[str, Any]] = []
        notes: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        actions: list[SweepAction] = []
        for r in rows:
            kind = DeadlineKind(r.clock_kind)
            start = r.handled_at if kind == DeadlineKind.REVIEW else r.clock_start
            clock = Clock(kind, start, r.clock_due, TimeUnit(r.clock_unit))
            step_no, seq = r.ladder_done, seqs.get(r.id, 0)
            overdue, overdue_since, level = r.overdue, r.overdue_since, None
            nxt = ladder.step_due_at(cal, clock, step_no)
            facts = CaseFacts(
                r.case_no,
                CaseStatus(r.status),
                Tier(r.tier),
                r.source,
                r.assignee,
                r.community_code,
                tuple(r.assisting),
                r.reporter,
            )
            while nxt is not None and nxt <= now:
                step = ladder.steps[step_no]
                seq += 1
                key = f"{r.case_no}#{kind.value}@{clock.start.isoformat()}#{step.kind.value}"
                payload = {
                    "clock": kind.value,
                    "due": r.clock_due.isoformat(),
                    "step": step_no,
                    "fraction": step.fraction,
                    "assignee": r.assignee,
                }
                events.append(
                    dict(
                        case_id=r.id,
                        seq=seq,
                        kind=step.kind.value,
                        actor=actor.name,
                        role=actor.role.value,
                        department=None,
                        community=None,
                        at=now,
                        recorded_at=recorded,
                        from_status=r.status,
                        to_status=r.status,
                        payload=payload,
                        idempotency_key=key,
                    )
                )
                for n in notices(facts, step.kind):
                    notes.append(
                        dict(
                            case_id=r.id,
                            kind=n.kind,
                            recipient=n.recipient,
                            body={**n.body, **payload},
                            status="pending",
                            attempts=0,
                            created_at=now,
                            last_error=None,
                            sent_at=None,
                            idempotency_key=f"{key}|{n.kind}|{n.recipient}"[:200],
                        )
                    )
                if step_no >= overdue_from and not overdue:
                    overdue, overdue_since = True, r.clock_due
                level = step.kind.value
                actions.append(
                    SweepAction(
                        r.case_no,
                        step.kind.value,
                        kind.value,
                        r.clock_due,
                        r.assignee,
                        r.community_code,
                        overdue,
                    )
                )
                step_no += 1
                nxt = ladder.step_due_at(cal, clock, step_no)
            updates.append(
                dict(
                    b_id=r.id,
                    b_version=r.row_version,
                    ladder_done=step_no,
                    next_sweep_at=nxt,
                    overdue=overdue,
                    overdue_since=overdue_since,
                    supervision_level=level,
                    row_version=r.row_version + 1,
                    updated_at=now,
                )
            )
        if events:
            s.execute(insert(CaseEvent), events)
        if notes:
            s.execute(insert(Notification), notes)
        table = cast(Table, Case.__table__)
        res = s.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.row_version == bindparam("b_version"))
            .values(
                ladder_done=bindparam("ladder_done"),
                next_sweep_at=bindparam("next_sweep_at"),
                overdue=bindparam("overdue"),
                overdue_since=bindparam("overdue_since"),
                supervision_level=func.coalesce(
                    bindparam("supervision_level"), table.c.supervision_level
                ),
                row_version=bindparam("row_version"),
                updated_at=bindparam("updated_at"),
            ),
            updates,
            execution_options={"synchronize_session": False},
        )
        if cast(CursorResult[Any], res).rowcount not in (-1, len(updates)):
            raise IntegrityError("sweep update", None, Exception("case changed during sweep"))
        return actions, len(rows)
