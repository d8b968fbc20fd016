"""How the simulator's steps are carried out: through the real flows, or inline.

``FlowExecutor``: every report and answer is a Prefect flow run (``Launcher``, inline mode,
like ``gridgov demo``), sweeps run the ``supervise`` and ``citizen-clock`` flows, machine
batches the ``intake-machine-events`` flow, citizen requests the ``citizen-request`` flow.

``InlineExecutor``: the same step functions without orchestration, for large volumes —
``CaseBook`` + ``progress.advance`` per step, ``supervision.sweep`` and the citizen-clock
check per sweep, ``BulkIntake`` per batch. Both write the same ledger rows.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gridgov.domain.commands import Answer, NewCase
from gridgov.domain.lifecycle import Actor
from gridgov.domain.routing import UnsatisfiedPolicy
from gridgov.intake.bulk import BulkIntake, IngestReport, opened_by
from gridgov.intake.citizen import CitizenDesk, RequestOutcome, inline_opener
from gridgov.intake.clock_check import check_citizen_clock
from gridgov.ledger.progress import advance, record
from gridgov.ledger.records import CaseRecord
from gridgov.ledger.supervision import sweep
from gridgov.runtime import Runtime


class Executor(Protocol):
    rt: Runtime

    async def report(
        self, new: dict[str, Any], actor: Actor, at: datetime, key: str, fix: Answer | None
    ) -> CaseRecord: ...

    async def answer(self, case_no: str, answer: Answer, at: datetime) -> CaseRecord: ...

    async def sweep(self, at: datetime) -> int: ...

    async def machine(self, rows: list[dict[str, Any]], at: datetime) -> IngestReport: ...

    async def citizen(self, request: dict[str, Any]) -> RequestOutcome: ...

    async def assign(self, request: int, item: str, at: datetime) -> RequestOutcome: ...


class InlineExecutor:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.book = rt.book
        self.spot = rt.settings.spot_check_share
        self.policy = UnsatisfiedPolicy(rt.settings.unsatisfied_policy)
        self.opener = inline_opener(self.book, self.spot, self.policy.value)
        self.desk = CitizenDesk(self.book)
        self.intake = BulkIntake(self.book)

    async def report(
        self, new: dict[str, Any], actor: Actor, at: datetime, key: str, fix: Answer | None
    ) -> CaseRecord:
        case = self.book.open_case(new, actor, at, key).case
        if fix is not None:
            record(self.book, case.case_no, fix, at)
        return advance(
            self.book, case.case_no, None, at, spot_share=self.spot, policy=self.policy
        ).case

    async def answer(self, case_no: str, answer: Answer, at: datetime) -> CaseRecord:
        return advance(
            self.book, case_no, answer, at, spot_share=self.spot, policy=self.policy
        ).case

    async def sweep(self, at: datetime) -> int:
        actions = sweep(self.book, at)
        check_citizen_clock(self.book, at)
        return len(actions)

    async def machine(self, rows: list[dict[str, Any]], at: datetime) -> IngestReport:
        return self.intake.ingest_rows(enumerate(rows, 1), received_at=at)

    async def citizen(self, request: dict[str, Any]) -> RequestOutcome:
        return self.desk.submit(request, self.opener)

    async def assign(self, request: int, item: str, at: datetime) -> RequestOutcome:
        return self.desk.assign(request, item, "street-command-centre", at, self.opener)


class FlowExecutor:
    """Needs ``rt`` to be the process's default runtime (the flows use it)."""

    def __init__(self, rt: Runtime) -> None:
        from gridgov.flows.launch import Launcher

        self.rt = rt
        self.book = rt.book
        self.launcher = Launcher(rt)
        self.desk = CitizenDesk(self.book)
        self.runs = 0

    async def report(
        self, new: dict[str, Any], actor: Actor, at: datetime, key: str, fix: Answer | None
    ) -> CaseRecord:
        case, _ = await self.launcher.report(new, actor, at, key, fix)
        self.runs += 1
        return self.book.get(case.case_no)

    async def answer(self, case_no: str, answer: Answer, at: datetime) -> CaseRecord:
        await self.launcher.answer(case_no, answer, at)
        self.runs += 1
        return self.book.get(case_no)

    async def sweep(self, at: datetime) -> int:
        from gridgov.flows.intake import citizen_clock
        from gridgov.flows.supervision import supervise

        state = await supervise(at, return_state=True)
        await citizen_clock(at, return_state=True)
        self.runs += 2
        result = await state.aresult()
        return int(result["actions"]) if isinstance(result, dict) else 0

    async def machine(self, rows: list[dict[str, Any]], at: datetime) -> IngestReport:
        from gridgov.flows.intake import intake_machine_events

        with tempfile.TemporaryDirectory(prefix="gridgov-sim-") as tmp:
            path = Path(tmp) / "batch.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            await intake_machine_events(str(path), return_state=True)
        self.runs += 1
        # The flow reports counts; the simulator needs the case numbers: read them back.
        report = IngestReport(rows=len(rows))
        report.case_nos = await asyncio.to_thread(opened_by, self.book, rows)
        report.opened = len(report.case_nos)
        return report

    async def citizen(self, request: dict[str, Any]) -> RequestOutcome:
        from gridgov.flows.intake import citizen_request

        await citizen_request(request, return_state=True)
        self.runs += 1
        done = self.desk.find(request["channel"], request["request_id"])
        assert done is not None
        return done

    async def assign(self, request: int, item: str, at: datetime) -> RequestOutcome:
        from gridgov.flows.items import item_flow

        opened: list[CaseRecord] = []

        def open_only(new: NewCase, actor: Actor, when: datetime, key: str) -> CaseRecord:
            opened.append(self.book.open_case(new, actor, when, key).case)
            return opened[-1]

        outcome = self.desk.assign(request, item, "street-command-centre", at, open_only)
        case = opened[0]
        await item_flow(case.item_code)(case.case_no, None, at, return_state=True)  # dispatch
        self.runs += 1
        return outcome
