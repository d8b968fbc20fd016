"""The item-flow factory and the review and supervision flows.

Waiting for a person holds no process: each run does one step of the loop (the report, or
one answer and the automatic steps after it), records it in the ledger and ends in a state
named for where the case now waits (``AwaitingDepartment``, ``AwaitingReview``, ``Overdue``…).
The next answer starts the next run. See docs/lifecycle.md for why this beats suspending.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from prefect import Flow, flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.exceptions import MissingResult
from prefect.runtime import flow_run
from prefect.states import Completed

from gridgov import clock
from gridgov.boards.labels import waits_zh
from gridgov.boards.publish import situation_of, tag_this_run
from gridgov.domain.commands import Answer
from gridgov.domain.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
)
from gridgov.item_catalog.models import Item
from gridgov.ledger.owed import settle
from gridgov.ledger.progress import waiting_now
from gridgov.runtime import default_runtime
from gridgov.tasks.casework import (
    advance_step,
    deliver_notifications,
    publish_case_trail,
)

ITEMS_MODULE = "gridgov.flows.items"
REVIEW_KINDS = frozenset({"review_passed", "review_failed", "rated"})
ItemFlow = Flow[..., Coroutine[Any, Any, State[Any]]]


def flow_name(code: str) -> str:
    return f"item-{code}"


def function_name(code: str) -> str:
    """Importable module-level name for an item's flow (serve() re-imports by entrypoint)."""
    return "item_" + re.sub(r"[^a-z0-9]+", "_", code.lower())


def item_tags(item: Item) -> list[str]:
    return [
        f"tier:{int(item.tier)}",
        f"family:{item.family.value}",
        f"category:{item.category}",
        f"dept:{item.lead_department}",
        f"事项:{item.name_zh}",
    ]


def _run_name(label: str | None) -> Callable[[], str]:
    """Run names like ``C20261123-000123 · 暴露垃圾 · acknowledged`` (label None: look the
    item name up in the ledger, for flows that serve every item)."""

    def name() -> str:
        params = flow_run.parameters
        answer = params.get("answer")
        step = (
            "report"
            if answer is None
            else (
                answer.get("kind")
                if isinstance(answer, dict)
                else getattr(answer, "kind", "answer")
            )
        )
        case_no = str(params.get("case_no"))
        rt = default_runtime()
        item_name = label or rt.book.get(case_no).item_name
        # The case's own time of the step (simulated in the demo, a source's time on import):
        # the run's start time in the UI is when Prefect ran it, which may differ.
        moment = params.get("at")
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        when = f" @ {moment.astimezone(rt.calendar.tz):%m-%d %H:%M}" if moment else ""
        return f"{case_no} · {item_name} · {step}{when}"

    return name


# A step refused by the rules (the answer arrived without going through the gateway, e.g.
# Prefect's own "run deployment" REST path): nothing was written, so the run is not a failed
# step to retry. ConcurrentUpdate is not here: it is worth the flow's retry.
REFUSALS = (InvalidInput, InvalidTransition, NotPermitted, NotFound, IdempotencyConflict)


async def run_step(
    case_no: str, answer: Answer | None, at: datetime | None, expect_item: str | None = None
) -> State[Any]:
    """One step of a case, shared by the item and review flows.

    Ends plain ``Completed`` (custom state names hide runs from the UI's default filters and
    show green anyway); where the case waits is in the run's tags (gridgov.boards.runs) and
    in the state's data and message."""
    moment = at or clock.now()
    rt = default_runtime()
    try:
        if expect_item is not None:
            case = rt.book.get(case_no)
            if case.item_code != expect_item:
                raise InvalidInput(
                    f"case {case_no} is item {case.item_code}, not {expect_item}", field="case_no"
                )
        outcome = await asyncio.to_thread(advance_step, case_no, answer, moment)
    except REFUSALS as exc:
        # A refusal is final: the run did what it was owed (it will not be started again).
        await asyncio.to_thread(_settle, case_no, answer)
        return await _refused(case_no, exc)
    # The step is in the ledger: the case owes this run no more (ledger/owed.py).
    await asyncio.to_thread(_settle, case_no, answer)
    case = outcome.case
    # Telling people, the trail and the run's tags do not depend on each other: all at once.
    await asyncio.gather(
        deliver_notifications(case.id),
        publish_case_trail(outcome),
        tag_this_run(situation_of(case)),
    )
    done = [answer.kind.value] if answer is not None else []
    done += [e.kind for e in outcome.events if answer is None or e.kind != answer.kind]
    kinds = ", ".join(done) or "nothing new"
    return Completed(
        message=f"{case_no}: {kinds}; now {case.status} · {waits_zh(outcome.waiting.value)}",
        data={"case_no": case_no, "status": case.status, "waiting": outcome.waiting.value},
    )


async def _refused(case_no: str, exc: Exception) -> State[Any]:
    """Completed, tagged ``refused``, the reason in the message: not a red Failed step."""
    run_id = flow_run.get_id()
    if run_id is not None:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(run_id))
            await client.update_flow_run(run.id, tags=[*run.tags, "refused"])
    return Completed(
        message=f"{case_no}: refused, nothing recorded — {exc}",
        data={"case_no": case_no, "refused": str(exc), "field": getattr(exc, "field", None)},
    )


def _settle(case_no: str, answer: Answer | None) -> None:
    rt = default_runtime()
    settle(rt.book.factory, case_no, answer.key if answer else None, clock.now(), flow_run.get_id())


class _Waits(Protocol):
    @property
    def waits(self) -> str | None: ...


async def waits_of(state: State[Any] | _Waits, case_no: str | None = None) -> str | None:
    """Where the case waits after the run that ended in ``state`` (None: refused); also
    takes what ``Launcher`` returns (``Started``), which knows it already."""
    if not isinstance(state, State):
        return state.waits
    try:
        data = await state.aresult(raise_on_failure=False)
    except MissingResult:
        # Now and then the engine hands back the server's copy of the final state (Prefect's
        # propose_state returns it when the server does not accept ours as is), and that copy
        # carries no data. The step is in the ledger either way: ask it where the case waits.
        if case_no is None or (state.message or "").startswith(f"{case_no}: refused"):
            return None
        return await asyncio.to_thread(_waiting_now, case_no)
    return data.get("waiting") if isinstance(data, dict) else None


def _waiting_now(case_no: str) -> str:
    # The same answer the run's own data gives (ledger.progress: overdue shown).
    return waiting_now(default_runtime().book.get(case_no)).value


def build_item_flow(item: Item) -> ItemFlow:
    """One flow per catalogue item: ``item-<code>``, tagged by tier, category, department."""

    async def item_flow(
        case_no: str, answer: Answer | None = None, at: datetime | None = None
    ) -> State[Any]:
        return await run_step(case_no, answer, at, expect_item=item.code)

    item_flow.__name__ = function_name(item.code)
    item_flow.__qualname__ = item_flow.__name__
    # Deployments load it by module path (serve() re-imports flows in a subprocess): the
    # name lives in gridgov.flows.items, not in this module where the closure is defined.
    item_flow.__module__ = ITEMS_MODULE
    return Flow(
        fn=item_flow,
        name=flow_name(item.code),
        flow_run_name=_run_name(item.name_zh),
        description=f"{item.name_zh} / {item.name_en} — tier {int(item.tier)}, lead "
        f"{item.lead_department}. {item.closing_condition}",
        log_prints=True,
        validate_parameters=True,
        retries=1,  # a step is idempotent: re-running it after a hiccup is safe
        retry_delay_seconds=2,
    )


@flow(
    name="review-case",
    flow_run_name=_run_name(None),
    log_prints=True,
    retries=1,
    retry_delay_seconds=2,
)
async def review_case(case_no: str, answer: Answer, at: datetime | None = None) -> State[Any]:
    """复核 and 回访: a reviewer passes or fails the work; a citizen rates it."""
    if answer.kind.value not in REVIEW_KINDS:
        raise InvalidInput(
            f"review-case takes {sorted(REVIEW_KINDS)}, not {answer.kind}", field="answer.kind"
        )
    return await run_step(case_no, answer, at)
