"""One run of a recurring job at a time: the ledger's hold, renewed while the job works.

The recurring jobs (督办 sweep, citizen clock, trail seal, monthly assessment) are kept apart
by the ledger's hold (``gridgov.ledger.holds``), not by a Prefect deployment concurrency
limit: a run killed with ``kill -9`` keeps its Prefect slot until Prefect's lease on it
expires (300 s in 3.8.8, renewed by the flow engine and not settable per deployment), and
every run scheduled meanwhile is cancelled, so nothing is swept for five minutes. The hold is
a short lease (``GRIDGOV_JOB_LEASE``, 60 s) that a heartbeat renews every third of it while
the job works: a job longer than the lease keeps it, a dead one's expires within a lease and
the next scheduled run takes over. A run that finds the hold taken ends at once, Completed,
saying who holds it.

A run that starts late, or takes over a dead holder's hold, also cancels its deployment's
runs still waiting for a worker that were due by then ("superseded"): it, or the run holding
the hold, does everything they would have done, so a backlog of late runs after an outage, or
on a worker too busy to start them on time, does not take a process each (cron's "fire once
now" misfire policy). A run that starts on time skips that Prefect read: runners start the
runs of a deployment oldest first, so none due before it can be waiting. See
docs/operations.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from sqlalchemy.orm import Session, sessionmaker

from gridgov import clock
from gridgov.ledger import holds
from gridgov.runtime import default_runtime

# How late a run starts before it looks for waiting runs to supersede: Prefect's own mark for
# a Late run (PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS, 15 s by default).
LATE = timedelta(seconds=15)


def _log() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("gridgov.holds")


def holder_id() -> str:
    """This run (its Prefect flow-run id, which the UI finds) and the process holding it."""
    run = flow_run.get_id()
    return f"{run or uuid.uuid4().hex}@{socket.gethostname()}:{os.getpid()}"[:64]


@dataclass
class Hold:
    """A job's hold as one run sees it: ``held`` by this run, or taken by ``other``."""

    factory: sessionmaker[Session]
    name: str
    holder: str
    lease: timedelta
    held: bool
    other: str | None = None  # who holds it, when this run does not
    other_until: datetime | None = None
    renewals: int = 0
    lost: bool = False  # it expired while this run stalled, and another run took it
    completed_at: datetime | None = None  # set by the job when it finished its work

    @property
    def refusal(self) -> str:
        until = f" until {self.other_until:%Y-%m-%d %H:%M:%S} UTC" if self.other_until else ""
        return f"skipped: the {self.name} hold is held by {self.other or 'another run'}{until}"


async def _heartbeat(hold: Hold, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            kept = await asyncio.to_thread(
                holds.renew, hold.factory, hold.name, hold.holder, clock.now(), hold.lease
            )
        except Exception as exc:  # the ledger did not answer this beat: the next one retries
            _log().warning("could not renew the %s hold: %s", hold.name, exc)
            continue
        if not kept:
            hold.lost = True
            _log().warning("the %s hold expired and another run took it over", hold.name)
            return
        hold.renewals += 1


async def supersede_waiting_runs(deployment_id: UUID, me: UUID | None, due_by: datetime) -> int:
    """Cancel the runs of ``deployment_id`` (other than ``me``) still Scheduled (Late
    included) for a time up to ``due_by``: the run holding the job's hold does their work.
    Returns how many; on any Prefect error none (they then start and skip, as before)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.responses import OrchestrationResult, SetStateStatus
    from prefect.states import Cancelled

    try:
        async with get_client() as client:
            waiting = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                    expected_start_time=FlowRunFilterExpectedStartTime(before_=due_by),
                ),
                limit=200,
            )
            n = 0
            for run in waiting:
                if run.id == me:
                    continue
                result: OrchestrationResult[Any] = await client.set_flow_run_state(
                    run.id, Cancelled(message=f"superseded by run {me}: it catches up this run")
                )
                n += result.status == SetStateStatus.ACCEPT
    except Exception as exc:  # Prefect busy or gone: the waiting runs start and skip
        _log().warning("could not cancel the superseded runs: %s", exc)
        return 0
    if n:
        _log().info("%d waiting runs of this deployment superseded by this one", n)
    return n


def catches_up(expected_start: datetime | None, now: datetime, taken_over: bool) -> bool:
    """Whether a run starting at ``now`` looks for waiting runs of its deployment to supersede:
    when it starts late (a busy worker, or none, left runs queued behind it) or took over a
    dead holder's hold. An unknown expected start counts as late."""
    return taken_over or expected_start is None or now - expected_start > LATE


@asynccontextmanager
async def job_hold(
    factory: sessionmaker[Session],
    name: str,
    lease: timedelta | None = None,
    every: float | None = None,
) -> AsyncIterator[Hold]:
    """Take the hold on ``name`` for ``lease`` (default ``GRIDGOV_JOB_LEASE``), renewed every
    ``every`` seconds (a third of the lease) until the block ends, then released (with
    ``completed_at`` when the job set it). When another run holds it, the block gets
    ``held=False`` and the holder's name."""
    if lease is None:
        lease = timedelta(seconds=default_runtime().settings.job_lease)
    holder = holder_id()
    before, until = await asyncio.to_thread(holds.holding, factory, name)
    now = clock.now()
    held = await asyncio.to_thread(holds.acquire, factory, name, holder, now, lease)
    hold = Hold(factory, name, holder, lease, held)
    # Held or not, a late run (or one that took over a dead holder's hold) supersedes this
    # deployment's runs still waiting for a worker that were due by now: the holder does
    # their work (or, when another run holds, is doing it).
    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx is not None else None
    taken_over = held and before is not None and until is not None and until < now
    if run is not None and run.deployment_id:
        started = datetime.now(UTC)  # Prefect's schedule is on the real clock
        if catches_up(run.expected_start_time, started, taken_over):
            await supersede_waiting_runs(run.deployment_id, run.id, started)
    if not held:
        hold.other, hold.other_until = await asyncio.to_thread(holds.holding, factory, name)
        _log().info(hold.refusal)
        yield hold
        return
    beat = asyncio.create_task(_heartbeat(hold, every or lease.total_seconds() / 3))
    try:
        yield hold
    finally:
        beat.cancel()
        with suppress(asyncio.CancelledError):
            await beat
        # Completed or not, the hold is freed: the next run catches up whatever is left.
        await asyncio.to_thread(holds.release, factory, name, holder, hold.completed_at)
