"""The 督办 sweep flow: the ladder in bulk, then owed runs and pending notices.

One sweep at a time (the ledger's ``supervise`` hold, a short lease renewed while the sweep
works: ``gridgov.flows.holding``): several workers, or a backlog of scheduled runs after an
outage, never sweep together; the first catches up everything due and the others end at once
("skipped", naming the holder). A sweep killed with ``kill -9`` leaves a hold that expires
within ``GRIDGOV_JOB_LEASE`` (60 s), and the next scheduled sweep takes over. See
docs/lifecycle.md and docs/operations.md.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed

from gridgov import clock
from gridgov.flows.boards import board_views
from gridgov.flows.holding import job_hold
from gridgov.flows.launch import Mode, reconcile
from gridgov.ledger import holds
from gridgov.runtime import default_runtime
from gridgov.tasks.casework import deliver_notifications, publish_ladder_steps, sweep_ledger


def _sweep_name() -> str:
    moment = flow_run.parameters.get("now")
    return f"督办 sweep @ {moment:%Y-%m-%d %H:%M}" if isinstance(moment, datetime) else "督办 sweep"


@flow(name="supervise", flow_run_name=_sweep_name, log_prints=True)
async def supervise(now: datetime | None = None) -> State[Any]:
    """督办: remind before the deadline, supervise at it, escalate past it — in bulk; then
    start the runs owed past their grace and deliver what is pending. One sweep at a time:
    a sweep that finds another holding the ledger's sweep hold ends at once ("skipped", with
    the holder's name in the state message)."""
    rt = default_runtime()
    moment = now or clock.now()
    async with job_hold(rt.book.factory, holds.SWEEP) as hold:
        if not hold.held:
            return Completed(message=hold.refusal, data={"skipped": True, "holder": hold.other})
        actions = await sweep_ledger(moment)
        if hold.lost:
            # This sweep stalled past its lease and another took over: it does the rest.
            return Completed(
                message=f"{len(actions)} actions, then stopped: the hold was taken over",
                data={"actions": len(actions), "stopped": True},
            )
        owed = await reconcile(rt, clock.now(), Mode(rt.settings.launch_mode))
        # After the sweep's transaction: boards, ladder events, tags and trails (gridgov.boards).
        await asyncio.gather(
            deliver_notifications(None),
            publish_ladder_steps(actions, moment),
            board_views(moment, flow_run.get_id()),
        )
        hold.completed_at = clock.now()
    counts = {k: sum(a.step == k for a in actions) for k in ("reminded", "supervised", "escalated")}
    return Completed(
        message=f"{len(actions)} actions at {moment.isoformat()}: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; owed runs: {owed.started} started, {owed.waiting} in flight, "
        f"{owed.failed} not started",
        data={"actions": len(actions), **counts, "owed_started": owed.started},
    )
