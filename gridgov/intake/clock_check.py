"""Hold every citizen/hotline case (and every request still queued) to the citizen clock.

``check_citizen_clock`` reads the recent citizen cases (``ix_cases_opened_at``: only cases
received within ``horizon``, so the cost follows recent intake, not the ledger), works out when
each promise was kept from their trail and outbox, and records each newly missed stage once in
``citizen_clock_breaches`` with a ``citizen_clock`` notice to the handler and the community's
dispatcher. Queued requests (no case yet) miss their appointment at 30 minutes. Running it
again changes nothing; it runs in the ``citizen-clock`` flow and in the simulator.

``citizen_clock_summary`` counts, per stage, how many cases kept the promise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.routing import CALLBACK_SOURCES
from gridgov.intake.citizen_clock import (
    CitizenClockRules,
    Progress,
    Stage,
    Standing,
    breaches,
    standing,
)
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.models import Case, CaseEvent, Notification
from gridgov.ledger.risk_models import CitizenClockBreach, CitizenRequest

STAGE_EVENTS = {"acknowledged": "appointed", "handled": "done", "rated": "rated"}


@dataclass(frozen=True)
class Breach:
    stage: str
    due: datetime
    case_no: str | None
    request_id: str | None
    handler: str
    community: str


@dataclass(frozen=True)
class _Subject:
    case_id: int
    case_no: str
    handler: str
    community: str
    progress: Progress


def _subjects(conn: Connection, since: datetime, until: datetime) -> list[_Subject]:
    rows = conn.execute(
        select(
            Case.id,
            Case.case_no,
            Case.assignee,
            Case.community_code,
            Case.opened_at,
            Case.closed_at,
        ).where(
            Case.opened_at >= since,
            Case.opened_at <= until,
            Case.source.in_(sorted(CALLBACK_SOURCES)),
        )
    ).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    firsts: dict[int, dict[str, datetime]] = defaultdict(dict)
    for i in range(0, len(ids), 1000):
        part = ids[i : i + 1000]
        q = (
            select(
                CaseEvent.case_id, CaseEvent.kind, func.min(CaseEvent.at), func.max(CaseEvent.at)
            )
            .where(
                CaseEvent.case_id.in_(part), CaseEvent.kind.in_([*STAGE_EVENTS, "review_passed"])
            )
            .group_by(CaseEvent.case_id, CaseEvent.kind)
        )
        for case_id, kind, first, last in conn.execute(q):
            # The last review counts for the callback (a reopened case is reviewed again).
            firsts[case_id][kind] = last if kind == "review_passed" else first
    # The receipt: read through ix_notifications_status (status, created_at), not per case.
    noticed: dict[int, datetime] = {}
    q2 = select(Notification.case_id, Notification.created_at).where(
        Notification.status.in_(["pending", "sent", "logged"]),
        Notification.created_at >= since,
        Notification.kind == "received",
    )
    wanted = set(ids)
    for cid, at in conn.execute(q2):
        if cid is not None and cid in wanted and (cid not in noticed or at < noticed[cid]):
            noticed[cid] = at
    out = []
    for r in rows:
        f = firsts.get(r.id, {})
        out.append(
            _Subject(
                r.id,
                r.case_no,
                f"community:{r.community_code}"
                if r.assignee == COMMUNITY_UNIT
                else f"department:{r.assignee}",
                r.community_code,
                Progress(
                    received=r.opened_at,
                    noticed=noticed.get(r.id),
                    appointed=f.get("acknowledged"),
                    done=f.get("handled"),
                    reviewed=f.get("review_passed"),
                    rated=f.get("rated"),
                    closed=r.closed_at,
                ),
            )
        )
    return out


def check_citizen_clock(
    book: CaseBook,
    now: datetime,
    *,
    rules: CitizenClockRules | None = None,
    horizon: timedelta = timedelta(days=7),
) -> list[Breach]:
    """Record the stages newly missed as of ``now``; return them."""
    rules = rules or CitizenClockRules()
    now = now.astimezone(UTC)
    found: list[Breach] = []
    with book.factory() as s, s.begin():
        conn = s.connection()
        subjects = _subjects(conn, now - horizon, now)
        known = _known(s, [x.case_id for x in subjects])
        for x in subjects:
            for stage, due in breaches(rules, x.progress, now):
                if (x.case_id, stage.value) in known:
                    continue
                s.add(
                    CitizenClockBreach(
                        case_id=x.case_id, stage=stage.value, due_at=due, detected_at=now
                    )
                )
                found.append(Breach(stage.value, due, x.case_no, None, x.handler, x.community))
                _tell(s, x.case_id, x.case_no, stage.value, due, now, x.handler, x.community)
        found += _queued(s, rules, now, horizon)
    return found


def _known(s: Session, ids: list[int]) -> set[tuple[int | None, str]]:
    out: set[tuple[int | None, str]] = set()
    for i in range(0, len(ids), 1000):
        q = select(CitizenClockBreach.case_id, CitizenClockBreach.stage).where(
            CitizenClockBreach.case_id.in_(ids[i : i + 1000])
        )
        out.update((c, st) for c, st in s.execute(q))
    return out


def _queued(
    s: Session, rules: CitizenClockRules, now: datetime, horizon: timedelta
) -> list[Breach]:
    """Requests still waiting for the dispatcher keep no appointment and get nothing done."""
    rows = s.scalars(
        select(CitizenRequest).where(
            CitizenRequest.status == "queued", CitizenRequest.received_at >= now - horizon
        )
    ).all()
    if not rows:
        return []
    known = {
        (r, st)
        for r, st in s.execute(
            select(CitizenClockBreach.request_id, CitizenClockBreach.stage).where(
                CitizenClockBreach.request_id.in_([r.id for r in rows])
            )
        )
    }
    out = []
    for row in rows:
        p = Progress(received=row.received_at, noticed=row.received_at)
        for stage in (Stage.APPOINTMENT, Stage.DONE):
            if standing(rules, stage, p, now) != Standing.LATE or (row.id, stage.value) in known:
                continue
            due = row.received_at + (
                rules.appointment if stage == Stage.APPOINTMENT else rules.done
            )
            s.add(
                CitizenClockBreach(
                    request_id=row.id, stage=stage.value, due_at=due, detected_at=now
                )
            )
            dispatcher = f"dispatcher:{row.community_code}"
            out.append(
                Breach(stage.value, due, None, row.request_id, dispatcher, row.community_code)
            )
            s.add(
                Notification(
                    case_id=None,
                    kind="citizen_clock",
                    recipient=dispatcher,
                    body={"request": row.request_id, "stage": stage.value, "due": due.isoformat()},
                    status="pending",
                    attempts=0,
                    created_at=now,
                    idempotency_key=f"citizen-clock|request:{row.id}|{stage.value}",
                )
            )
    return out


def _tell(
    s: Session,
    case_id: int,
    case_no: str,
    stage: str,
    due: datetime,
    now: datetime,
    handler: str,
    community: str,
) -> None:
    body: dict[str, Any] = {"case_no": case_no, "stage": stage, "due": due.isoformat()}
    for recipient in (handler, f"dispatcher:{community}"):
        s.add(
            Notification(
                case_id=case_id,
                kind="citizen_clock",
                recipient=recipient,
                body=body,
                status="pending",
                attempts=0,
                created_at=now,
                idempotency_key=f"citizen-clock|{case_no}|{stage}|{recipient}"[:200],
            )
        )


def citizen_clock_summary(
    engine: Engine, since: datetime, until: datetime, rules: CitizenClockRules | None = None
) -> dict[str, Counter[str]]:
    """Per stage, how many citizen/hotline cases received in [since, until] stand where
    (on_time / late / pending / not_yet) at ``until``."""
    rules = rules or CitizenClockRules()
    out: dict[str, Counter[str]] = {stage.value: Counter() for stage in Stage}
    with engine.connect() as conn:
        for x in _subjects(conn, since.astimezone(UTC), until.astimezone(UTC)):
            for stage in Stage:
                out[stage.value][standing(rules, stage, x.progress, until).value] += 1
    return out
