"""Prefect tasks: thin wrappers over the ledger, the outbox and artifacts (gridgov.boards)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from gridgov.boards.publish import Published, publish_ladder
from gridgov.boards.trail import publish_trail
from gridgov.domain.commands import Answer
from gridgov.domain.routing import UnsatisfiedPolicy
from gridgov.ledger.progress import StepOutcome, advance
from gridgov.ledger.supervision import SweepAction, sweep
from gridgov.notify import DeliveryReport, deliver_pending
from gridgov.runtime import default_runtime


def advance_step(case_no: str, answer: Answer | None, at: datetime) -> StepOutcome:
    """Apply the answer and the automatic steps after it, in the ledger.

    Not a Prefect task on purpose: it is one short, idempotent ledger transaction (events
    replay by key), so the flow's own retry covers it, and a task around it cost ~30 % of a
    handoff (benchmarks/lifecycle.py). Notices it queued sit in the outbox until sent."""
    rt = default_runtime()
    return advance(
        rt.book,
        case_no,
        answer,
        at,
        spot_share=rt.settings.spot_check_share,
        policy=UnsatisfiedPolicy(rt.settings.unsatisfied_policy),
    )


# NO_CACHE: delivery is made idempotent by the outbox; hashing inputs only adds latency.
@task(name="deliver-notifications", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
async def deliver_notifications(case_id: int | None = None) -> DeliveryReport:
    """Send the outbox (the case's, or everyone's); an async task in a thread costs about
    half a sync task inside an async flow."""
    rt = default_runtime()
    return await asyncio.to_thread(
        deliver_pending,
        rt.book.factory,
        rt.settings.webhook_url,
        case_id=case_id,
        retries=rt.settings.webhook_retries,
    )


@task(name="supervision-sweep", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
async def sweep_ledger(now: datetime) -> list[SweepAction]:
    return await asyncio.to_thread(sweep, default_runtime().book, now)


async def publish_case_trail(outcome: StepOutcome) -> None:
    """Markdown artifact per case (one key, a new version per step) with its whole trail."""
    rt = default_runtime()
    case = outcome.case
    trail = await asyncio.to_thread(rt.book.trail, case.case_no)
    await publish_trail(case, trail, outcome.waiting.value, rt.catalog, rt.calendar.tz)


# Not retried: a failed publish loses no ledger work and the next sweep publishes again.
@task(name="publish-ladder", cache_policy=NO_CACHE)
async def publish_ladder_steps(actions: list[SweepAction], now: datetime) -> Published:
    """Ladder events, and the most severe cases' tags and trails (the boards are the
    ``board-督办看板`` subflow's)."""
    return await publish_ladder(default_runtime(), actions, now)
