"""Start and continue case runs, in-process or through deployments.

``inline`` calls the flow in this process (a real, tracked Prefect flow run; used by the demo,
the simulator and the tests); ``deployment`` asks the Prefect API to run the deployment on a
worker/``gridgov serve`` and returns at once. Either way the ledger is written first.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from prefect import tags
from prefect.client.schemas.objects import State
from prefect.deployments import arun_deployment

from gridgov.domain.commands import Answer, NewCase
from gridgov.domain.enums import LaunchMode
from gridgov.domain.lifecycle import Actor
from gridgov.flows.casework import REVIEW_KINDS, flow_name, item_tags, review_case
from gridgov.flows.deployments import DEPLOYMENT
from gridgov.flows.items import item_flow
from gridgov.ledger.progress import answer_actor
from gridgov.ledger.records import CaseRecord
from gridgov.runtime import Runtime


def run_tags(rt: Runtime, case: CaseRecord) -> list[str]:
    """Tags a supervisor filters by: tier, category, lead department, community, street."""
    item = rt.catalog.version(case.item_code, case.item_version)
    return [
        *item_tags(item),
        f"community:{case.community_code}",
        f"street:{case.street_code}",
    ]


class Launcher:
    def __init__(self, rt: Runtime, mode: LaunchMode = LaunchMode.INLINE) -> None:
        self.rt = rt
        self.mode = mode

    async def report(
        self,
        new: NewCase | dict[str, Any],
        actor: Actor,
        at: datetime,
        key: str,
        fix: Answer | None = None,
    ) -> tuple[CaseRecord, Any]:
        """上报: record the case, then start its item flow (tier path). A field fix may come
        with the report (``fix``: the patroller's HANDLED answer with evidence)."""
        # Ledger calls are blocking: keep them off the event loop (the gateway is async).
        opened = await asyncio.to_thread(self.rt.book.open_case, new, actor, at, key)
        case = opened.case
        if fix is not None:
            case = await asyncio.to_thread(self._record, case.case_no, fix, at)
        return case, await self._start(case, fix, at)

    async def answer(
        self, case_no: str, answer: Answer, at: datetime, recorded: CaseRecord | None = None
    ) -> Any:
        """Record the answer (refused at once, with nothing written, if not allowed), then
        run the case's next step; the flow replays the recorded answer by its key.
        ``recorded``: the case as the caller's own transaction already recorded the answer
        (the gateway), so it is not applied a second time."""
        if recorded is None:
            recorded = await asyncio.to_thread(self._record, case_no, answer, at)
        return await self._start(recorded, answer, at)

    def _record(self, case_no: str, answer: Answer, at: datetime) -> CaseRecord:
        return self.rt.book.act(
            case_no, answer.kind, answer_actor(answer), at, answer.key, answer.payload
        ).case

    async def _start(self, case: CaseRecord, answer: Answer | None, at: datetime) -> Any:
        review = answer is not None and answer.kind.value in REVIEW_KINDS
        params: dict[str, Any] = {"case_no": case.case_no, "answer": answer, "at": at}
        if self.mode == LaunchMode.DEPLOYMENT:
            name = f"{'review-case' if review else flow_name(case.item_code)}/{DEPLOYMENT}"
            if answer is not None:
                params["answer"] = answer.model_dump(mode="json")
            params["at"] = at.isoformat()
            step = "report" if answer is None else answer.kind.value
            return await arun_deployment(
                name,
                parameters=params,
                timeout=0,
                tags=run_tags(self.rt, case),
                flow_run_name=f"{case.case_no} · {case.item_name} · {step}",
            )
        with tags(*run_tags(self.rt, case)):
            if review:
                assert answer is not None
                state: State[Any] = await review_case(case.case_no, answer, at, return_state=True)
            else:
                state = await item_flow(case.item_code)(case.case_no, answer, at, return_state=True)
        if not state.is_completed():
            await state.aresult()  # re-raises the flow's error
        return state
