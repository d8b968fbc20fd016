"""Owed runs: the ledger's list of flow runs that recorded answers still need.

An answer (or a report) recorded through the gateway or ``Launcher`` writes its ``owed_runs``
row in the same transaction (``CaseBook.act(..., owe=...)``), so a crash between recording
and starting the run cannot strand the case. The run that does the step settles the row; the
sweep's reconciler (``gridgov/flows/reconcile.py``) starts again any run owed for longer than
``GRIDGOV_OWED_RUN_GRACE``. See docs/operations.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from gridgov.domain.commands import Answer
from gridgov.ledger.db import transaction
from gridgov.ledger.models import OwedRun

REPORT = "report"


@dataclass(frozen=True, slots=True)
class Owing:
    """What the recorded command owes: the run of ``step`` with ``answer`` (JSON) at ``at``."""

    step: str
    answer: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class OwedRecord:
    id: int
    key: str
    case_no: str
    step: str
    answer: dict[str, Any] | None
    at: datetime
    owed_since: datetime
    attempts: int
    flow_run_id: str | None

    @classmethod
    def of(cls, r: OwedRun) -> OwedRecord:
        return cls(
            r.id, r.key, r.case_no, r.step, r.answer, r.at, r.owed_since, r.attempts, r.flow_run_id
        )


def owing(answer: Answer | None) -> Owing:
    """The run a command owes: the report run, or the run that replays ``answer``."""
    if answer is None:
        return Owing(REPORT, None)
    return Owing(answer.kind.value, answer.model_dump(mode="json"))


def add_owed(s: Session, case_id: int, case_no: str, key: str, owing: Owing, at: datetime) -> None:
    """In the answer's own transaction: the run this answer needs."""
    if s.scalar(select(OwedRun.id).where(OwedRun.key == key)) is None:
        s.add(
            OwedRun(
                key=key,
                case_id=case_id,
                case_no=case_no,
                step=owing.step,
                answer=owing.answer,
                at=at,
                owed_since=at,  # the answer's moment, on the same clock as the sweep
                attempts=0,
            )
        )


def settle(
    factory: sessionmaker[Session],
    case_no: str,
    key: str | None,
    now: datetime,
    flow_run_id: str | None = None,
) -> int:
    """The run did its step: the case owes it no more (``key`` None: the report run).

    The run names itself: a start that timed out on the caller's side may still have created
    the run in Prefect (seen under load), and the row should say which run paid the debt."""
    q = update(OwedRun).where(OwedRun.case_no == case_no, OwedRun.settled_at.is_(None))
    q = q.where(OwedRun.step == REPORT) if key is None else q.where(OwedRun.key == key)
    values: dict[str, Any] = {"settled_at": now}
    if flow_run_id is not None:
        values["flow_run_id"] = flow_run_id
    with transaction(factory) as s:
        return int(s.execute(q.values(**values)).rowcount or 0)  # type: ignore[attr-defined]


def overdue(
    factory: sessionmaker[Session], now: datetime, grace: timedelta, limit: int = 200
) -> list[OwedRecord]:
    """Runs owed longer than ``grace`` whose last start (if any) is older than ``grace``."""
    cutoff = now - grace
    with factory() as s:
        rows = s.scalars(
            select(OwedRun)
            .where(
                OwedRun.settled_at.is_(None),
                OwedRun.owed_since <= cutoff,
                OwedRun.last_attempt_at.is_(None) | (OwedRun.last_attempt_at <= cutoff),
            )
            .order_by(OwedRun.owed_since, OwedRun.id)
            .limit(limit)
        )
        return [OwedRecord.of(r) for r in rows]


def mark_attempt(
    factory: sessionmaker[Session],
    owed_id: int,
    now: datetime,
    flow_run_id: str | None,
    error: str | None = None,
) -> None:
    with transaction(factory) as s:
        row = s.get(OwedRun, owed_id)
        if row is None:
            return
        row.attempts += 1
        row.last_attempt_at = now
        row.last_error = error
        if flow_run_id is not None:
            row.flow_run_id = flow_run_id


def record_start(factory: sessionmaker[Session], key: str, flow_run_id: str) -> None:
    """The gateway started the run at once: remember which run it was (the reconciler looks)."""
    with transaction(factory) as s:
        s.execute(update(OwedRun).where(OwedRun.key == key).values(flow_run_id=flow_run_id))


def oldest_age(factory: sessionmaker[Session], now: datetime) -> timedelta | None:
    with factory() as s:
        oldest = s.scalar(select(func.min(OwedRun.owed_since)).where(OwedRun.settled_at.is_(None)))
    return None if oldest is None else now - oldest
