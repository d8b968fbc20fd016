"""The recurring jobs' ledger holds (issue 12): one run at a time, a dead holder's hold is
taken over after its lease, and a live holder renews its lease while it works, so a job
longer than the lease is not overlapped. Both backends; time is a SimClock, so nothing here
waits for a lease to run out."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import select

from gridgov import clock
from gridgov.flows.holding import job_hold
from gridgov.ledger import holds
from gridgov.ledger.models import JobHold
from gridgov.runtime import Runtime
from tests.conftest import at

LEASE = timedelta(seconds=60)


def test_a_dead_holders_hold_is_taken_over_after_its_lease(runtime: Runtime) -> None:
    f = runtime.book.factory
    t = at(2026, 12, 7, 22)
    assert holds.acquire(f, holds.SWEEP, "killed-sweep", t, LEASE)  # then kill -9: no release
    assert not holds.acquire(f, holds.SWEEP, "next", t + LEASE - timedelta(seconds=1), LEASE)
    assert holds.holding(f, holds.SWEEP) == ("killed-sweep", t + LEASE)
    assert holds.acquire(f, holds.SWEEP, "next", t + LEASE + timedelta(seconds=1), LEASE)
    # Had the first holder only stalled, it now finds the hold gone and frees nothing.
    assert not holds.renew(f, holds.SWEEP, "killed-sweep", t + LEASE, LEASE)
    holds.release(f, holds.SWEEP, "killed-sweep", t + LEASE)
    assert holds.holding(f, holds.SWEEP)[0] == "next"


async def _until(what: str, probe: object) -> None:
    deadline = time.monotonic() + 60  # generous: the machine is loaded; nothing is timed
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_live_job_renews_its_hold_and_is_not_overlapped(runtime: Runtime) -> None:
    f = runtime.book.factory
    sim = clock.SimClock(at(2026, 12, 7, 22))
    with clock.use_clock(sim):
        async with job_hold(f, holds.CITIZEN_CLOCK, LEASE, every=0.01) as hold:
            assert hold.held
            # The job runs for 2.5 leases; its heartbeat keeps moving the lease ahead of it.
            for _ in range(3):
                sim.advance(timedelta(seconds=50))
                await _until(
                    "a renewal",
                    lambda: holds.holding(f, holds.CITIZEN_CLOCK)[1] == sim.now() + LEASE,
                )
                assert not holds.acquire(f, holds.CITIZEN_CLOCK, "other", sim.now(), LEASE)
            # (Not hold.renewals: the heartbeat counts a renewal after the test may see it.)
            assert not hold.lost
            hold.completed_at = sim.now()
        # Released when the job ends: the next run takes it at once, and /readyz sees when.
        assert holds.holding(f, holds.CITIZEN_CLOCK) == (None, None)
        assert holds.last_completed(f, holds.CITIZEN_CLOCK) == sim.now()
        assert holds.acquire(f, holds.CITIZEN_CLOCK, "other", sim.now(), LEASE)


async def test_a_stalled_job_that_lost_its_hold_frees_nothing(runtime: Runtime) -> None:
    f = runtime.book.factory
    sim = clock.SimClock(at(2026, 12, 7, 22))
    with clock.use_clock(sim):
        async with job_hold(f, holds.SEAL, LEASE, every=3600) as hold:  # no beat in time
            sim.advance(LEASE + timedelta(seconds=1))
            assert holds.acquire(f, holds.SEAL, "taker", sim.now(), LEASE)
            assert not holds.renew(f, holds.SEAL, hold.holder, sim.now(), LEASE)
        assert holds.holding(f, holds.SEAL)[0] == "taker"  # its release freed nothing


@pytest.mark.prefect
async def test_a_sweep_skips_a_live_hold_and_takes_over_a_dead_one(rt: Runtime) -> None:
    from gridgov.flows.supervision import supervise

    f = rt.book.factory
    now = clock.now()
    assert holds.acquire(f, holds.SWEEP, "live-sweep@worker-1:42", now, LEASE)
    skipped = await supervise(now, return_state=True)  # type: ignore[call-overload]
    assert skipped.is_completed() and (await skipped.aresult())["skipped"]
    assert "held by live-sweep@worker-1:42 until" in skipped.message
    # The holder is killed (no release); once its lease has run out the next sweep sweeps.
    with rt.book.factory() as s, s.begin():
        s.get(JobHold, holds.SWEEP).held_until = now - timedelta(seconds=1)  # type: ignore[union-attr]
    swept = await supervise(now, return_state=True)  # type: ignore[call-overload]
    out = await swept.aresult()
    assert swept.is_completed() and "skipped" not in out, swept.message
    with f() as s:
        row = s.scalars(select(JobHold).where(JobHold.name == holds.SWEEP)).one()
    assert row.holder is None and row.last_completed_at is not None


@pytest.mark.prefect
async def test_the_holder_supersedes_its_deployments_late_runs(prefect_server: None) -> None:
    """After an outage (or on a worker too busy to start them), a recurring job's late runs
    queue up; a run that starts cancels those due by then (it, or the holder, does their work),
    and leaves the ones due later."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from gridgov.flows.holding import supersede_waiting_runs

    now = datetime.now(UTC)
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("held-job")
        dep = await client.create_deployment(flow_id, f"held-{uuid.uuid4().hex[:6]}")

        async def run(at: datetime) -> UUID:
            r = await client.create_flow_run_from_deployment(
                dep, state=Scheduled(scheduled_time=at)
            )
            return r.id

        me = await run(now - timedelta(minutes=1))
        late = [await run(now - timedelta(minutes=m)) for m in (30, 20, 10)]
        later = await run(now + timedelta(minutes=10))
        assert await supersede_waiting_runs(dep, me, now) == 3
        states = {i: (await client.read_flow_run(i)).state for i in (me, *late, later)}
    assert all(states[i].is_cancelled() for i in late)  # type: ignore[union-attr]
    assert "superseded by run" in (states[late[0]].message or "")  # type: ignore[union-attr]
    assert states[me].is_scheduled() and states[later].is_scheduled()  # type: ignore[union-attr]


def test_only_a_late_or_taking_over_run_looks_for_runs_to_supersede() -> None:
    """A run on time has no run of its deployment waiting before it (runners start them oldest
    first): it skips the Prefect read. A late one, or one that took a dead holder's hold, or
    one whose expected start is unknown, looks."""
    from gridgov.flows.holding import LATE, catches_up

    due = datetime(2026, 12, 8, 2, tzinfo=UTC)
    assert not catches_up(due, due + LATE, taken_over=False)
    assert catches_up(due, due + LATE + timedelta(seconds=1), taken_over=False)
    assert catches_up(due, due, taken_over=True)
    assert catches_up(None, due, taken_over=False)
