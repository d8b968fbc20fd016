"""Intake flows: machine-event batches, citizen requests, the citizen clock, risk patrols.

* ``intake-machine-events``: a JSON Lines / CSV file of AI-camera and IoT events through
  ``BulkIntake`` (bulk: no flow run per case; the cases' later steps run their item flows as
  answers come), then the outbox is delivered. A table artifact shows what was opened and
  which rows were refused (line, field).
* ``citizen-request``: one request — classified, routed to its building's grid and, when
  sure, opened through ``Launcher`` so its item flow dispatches it; unsure ones are queued for
  the dispatcher.
* ``citizen-clock``: records the 10 min / 30 min / 24 h / callback promises newly missed;
  one run at a time (the ledger's ``citizen-clock`` hold: two at once would both try to
  record the same breach and one would fail on its unique key).
* ``risk-patrols``: patrols due by now become tasks for the grid.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed

from gridgov import clock
from gridgov.flows.holding import job_hold
from gridgov.flows.launch import Launcher
from gridgov.intake.bulk import BulkIntake
from gridgov.intake.citizen import CitizenDesk
from gridgov.intake.clock_check import check_citizen_clock
from gridgov.intake.dedupe import DedupeRule
from gridgov.intake.machine import Format
from gridgov.intake.risk import RiskRegister
from gridgov.ledger import holds
from gridgov.runtime import default_runtime
from gridgov.tasks.casework import deliver_notifications


@flow(name="intake-machine-events", log_prints=True)
async def intake_machine_events(
    path: str, fmt: str | None = None, window_minutes: float = 30
) -> State[Any]:
    """Open cases from a file of machine-found events (idempotent per event id)."""
    rt = default_runtime()
    intake = BulkIntake(rt.book, DedupeRule(window=timedelta(minutes=window_minutes)))
    report = await asyncio.to_thread(intake.ingest_file, Path(path), Format(fmt) if fmt else None)
    await deliver_notifications(None)
    await acreate_table_artifact(
        key="machine-intake",
        table=[
            {"rows": report.rows, "opened": report.opened, "repeats": report.repeats}
            | {"already": report.already, "refused": len(report.errors)}
        ],
        description=f"Machine events from {Path(path).name}",
    )
    if report.errors:
        lines = "\n".join(f"| {e.line} | {e.field} | {e.message} |" for e in report.errors[:200])
        await acreate_markdown_artifact(
            key="machine-intake-errors",
            markdown=f"# Refused rows ({len(report.errors)})\n\n| line | field | error |\n"
            f"|---|---|---|\n{lines}\n",
        )
    return Completed(
        name="Ingested",
        message=f"{report.opened} cases opened, {report.repeats} repeats, "
        f"{report.already} already in, {len(report.errors)} rows refused",
        data={
            "opened": report.opened,
            "repeats": report.repeats,
            "already": report.already,
            "refused": len(report.errors),
        },
    )


@flow(name="citizen-request", log_prints=True)
async def citizen_request(request: dict[str, Any]) -> State[Any]:
    """书记在线 / 民意速办: classify, route to the building's grid, open or queue."""
    rt = default_runtime()
    desk = CitizenDesk(rt.book)
    prepared = await asyncio.to_thread(desk.prepare, request)
    todo = desk.new_case(prepared)
    case = None
    if todo is not None:
        new, actor, at, key = todo
        case, _ = await Launcher(rt).report(new, actor, at, key)
    outcome = await asyncio.to_thread(desk.record, prepared, case)
    await deliver_notifications(None)
    label = outcome.case_no or f"queued for the dispatcher ({outcome.candidates[:1]})"
    return Completed(
        name="Opened" if outcome.case_no else "Queued",
        message=f"request {outcome.request_id}: {label}",
        data={"status": outcome.status, "case_no": outcome.case_no, "id": outcome.id},
    )


@flow(name="citizen-clock", log_prints=True)
async def citizen_clock(now: datetime | None = None) -> State[Any]:
    """Record the citizen promises newly missed (SMS 10 min, appointment 30 min, 24 h…)."""
    moment = now or clock.now()
    rt = default_runtime()
    async with job_hold(rt.book.factory, holds.CITIZEN_CLOCK) as hold:
        if not hold.held:
            return Completed(message=hold.refusal, data={"skipped": True, "missed": 0})
        found = await asyncio.to_thread(check_citizen_clock, rt.book, moment)
        hold.completed_at = clock.now()
    await deliver_notifications(None)
    if found:
        await acreate_table_artifact(
            key="citizen-clock",
            table=[
                {
                    "case": b.case_no or "",
                    "request": b.request_id or "",
                    "stage": b.stage,
                    "due": b.due.isoformat(timespec="minutes"),
                    "handler": b.handler,
                }
                for b in found
            ],
            description=f"Citizen clock at {moment.isoformat()}: {len(found)} missed",
        )
    return Completed(
        name="Checked", message=f"{len(found)} promises newly missed", data={"missed": len(found)}
    )


@flow(name="risk-patrols", log_prints=True)
async def risk_patrols(now: datetime | None = None) -> State[Any]:
    """Patrols due by ``now`` (by risk grade) become open tasks for the grid."""
    moment = now or clock.now()
    made = await asyncio.to_thread(RiskRegister(default_runtime().book).issue_patrol_tasks, moment)
    return Completed(name="Issued", message=f"{made} patrol tasks", data={"tasks": made})
