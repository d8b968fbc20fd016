"""Job holds: a recurring job (the 督办 sweep, the citizen clock, the trail seal, the monthly
assessment) runs one at a time.

A hold is a lease row in ``job_holds``: one conditional UPDATE takes it, so two sweeps that
start together (several workers, a late backlog of scheduled runs) never overlap. The lease
is short and its holder renews it while it works (``gridgov.flows.holding``), so a holder
killed with ``kill -9`` leaves a lease that expires within one lease, and the next scheduled
run takes over. The row also keeps when the job last completed (``/readyz`` reads it) and,
for the monthly assessment, the last month done.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gridgov.ledger.db import transaction
from gridgov.ledger.models import JobHold

SWEEP = "supervise"  # the 督办 sweep's hold
MONTHLY = "monthly-assessment"  # the monthly assessment's hold; last_period: the month done
CITIZEN_CLOCK = "citizen-clock"
SEAL = "seal-trail"  # two seals at once would both chain onto the same previous checkpoint


def acquire(
    factory: sessionmaker[Session], name: str, holder: str, now: datetime, lease: timedelta
) -> bool:
    """Take the hold on ``name`` until ``now + lease``; False when someone else holds it."""
    try:
        with transaction(factory) as s:
            if s.get(JobHold, name) is None:
                s.add(JobHold(name=name))
    except IntegrityError:
        pass  # created by a racing holder: fine, the UPDATE below decides
    with transaction(factory) as s:
        taken = s.execute(
            update(JobHold)
            .where(
                JobHold.name == name,
                JobHold.held_until.is_(None) | (JobHold.held_until < now),
            )
            .values(holder=holder, held_until=now + lease)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def renew(
    factory: sessionmaker[Session], name: str, holder: str, now: datetime, lease: timedelta
) -> bool:
    """Extend ``holder``'s hold to ``now + lease``; False when it is no longer theirs (it
    expired while the holder stalled and another run took it over)."""
    with transaction(factory) as s:
        kept = s.execute(
            update(JobHold)
            .where(JobHold.name == name, JobHold.holder == holder)
            .values(held_until=now + lease)
        )
        return bool(kept.rowcount)  # type: ignore[attr-defined]


def holding(factory: sessionmaker[Session], name: str) -> tuple[str | None, datetime | None]:
    """Who holds ``name`` and until when (None, None when free)."""
    with factory() as s:
        row = s.execute(
            select(JobHold.holder, JobHold.held_until).where(JobHold.name == name)
        ).first()
    return (row[0], row[1]) if row else (None, None)


def release(
    factory: sessionmaker[Session],
    name: str,
    holder: str,
    completed_at: datetime | None,
    period: str | None = None,
) -> None:
    values: dict[str, object] = {"holder": None, "held_until": None}
    if completed_at is not None:
        values["last_completed_at"] = completed_at
    if period is not None:
        values["last_period"] = period
    with transaction(factory) as s:
        s.execute(
            update(JobHold).where(JobHold.name == name, JobHold.holder == holder).values(**values)
        )


def mark_period(factory: sessionmaker[Session], name: str, holder: str, period: str) -> None:
    """The holder finished ``period`` (a month): a later run, or a crash after this, never
    does it again."""
    with transaction(factory) as s:
        s.execute(
            update(JobHold)
            .where(JobHold.name == name, JobHold.holder == holder)
            .values(last_period=period)
        )


def last_completed(factory: sessionmaker[Session], name: str) -> datetime | None:
    with factory() as s:
        return s.scalar(select(JobHold.last_completed_at).where(JobHold.name == name))


def last_period(factory: sessionmaker[Session], name: str) -> str | None:
    with factory() as s:
        return s.scalar(select(JobHold.last_period).where(JobHold.name == name))
