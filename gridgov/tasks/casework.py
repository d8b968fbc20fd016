"""Prefect tasks: thin wrappers over the ledger, the outbox and artifacts."""

from __future__ import annotations

import asyncio
from datetime import datetime

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from gridgov.domain.commands import Answer
from gridgov.domain.routing import UnsatisfiedPolicy
from gridgov.ledger.progress import StepOutcome, advance
from gridgov.ledger.provisional import holiday_warning
from gridgov.ledger.records import CaseRecord, EventRecord
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


def trail_markdown(case: CaseRecord, trail: list[EventRecord], waiting: str) -> str:
    head = (
        f"# {case.case_no} · {case.item_name}\n\n"
        f"**{waiting}** — status `{case.status}`, tier {case.tier}, assignee "
        f"`{case.assignee}`, community `{case.community_code}`"
        f"{', **OVERDUE**' if case.overdue else ''}\n\n"
        f"Handle due: {case.handle_due:%Y-%m-%d %H:%M %Z} · reworks {case.rework_count} · "
        f"returns {case.return_count} · extensions {case.extension_count}\n\n"
        + (
            f"**Deadline provisional**: no holiday data for {case.provisional_years} "
            "(Monday–Friday assumed until it is added and recounted)\n\n"
            if case.provisional_years
            else ""
        )
        + "| # | time (UTC) | event | actor | role | unit | to |\n|---|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {e.seq} | {e.at:%Y-%m-%d %H:%M} | {e.kind} | {e.actor} | {e.role} | "
        f"{e.department or e.community or ''} | {e.to_status} |\n"
        for e in trail
    )
    return head + rows


def artifact_key(case_no: str) -> str:
    return "case-" + case_no.lower()


async def publish_case_trail(outcome: StepOutcome) -> None:
    """Markdown artifact per case (one key, a new version per step) with its whole trail."""
    case = outcome.case
    trail = default_runtime().book.trail(case.case_no)
    await acreate_markdown_artifact(
        key=artifact_key(case.case_no),
        markdown=trail_markdown(case, trail, outcome.waiting.value),
        description=f"Trail of {case.case_no}",
    )


async def publish_sweep_table(actions: list[SweepAction], now: datetime) -> None:
    rows = [
        {
            "case": a.case_no,
            "step": a.step,
            "clock": a.clock,
            "due": a.due.isoformat(timespec="minutes"),
            "assignee": a.assignee,
            "community": a.community,
            "overdue": a.overdue,
        }
        for a in actions
    ]
    warning = await asyncio.to_thread(holiday_warning, default_runtime().book, now)
    await acreate_table_artifact(
        key="supervision-sweep",
        table=rows or [{"case": "(none due)"}],
        description=f"Supervision sweep at {now.isoformat()}: {len(actions)} actions"
        + (f". WARNING: {warning}" if warning else ""),
    )
