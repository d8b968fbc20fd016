"""Record a step, then start its run: in-process, through a deployment, or later.

Every command first writes its event *and* the run it owes (``owed_runs``) in one
transaction; then the run is started:

* ``inline`` calls the flow in this process (a real, tracked Prefect flow run; the demo, the
  simulator and the tests);
* ``deployment`` asks the Prefect API for a run of the deployment (what workers or
  ``gridgov serve`` pick up), giving up after ``GRIDGOV_LAUNCH_TIMEOUT`` seconds;
* ``auto`` (default) does the same when a Prefect API is configured (``PREFECT_API_URL``),
  and records only when none is;
* ``none`` records only.

A run not started (mode ``none``, Prefect down or slow) is *pending*: the answer says so
(HTTP 202) and the sweep's reconciler starts it once it is owed longer than
``GRIDGOV_OWED_RUN_GRACE``. The flows replay the recorded answer by key, so starting a run
twice changes nothing. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import tags
from prefect.client.schemas.objects import State
from prefect.deployments import arun_deployment

from gridgov.domain.commands import Answer, NewCase
from gridgov.domain.enums import LaunchMode
from gridgov.domain.lifecycle import Actor
from gridgov.flows.casework import REVIEW_KINDS, flow_name, item_tags, review_case, waits_of
from gridgov.flows.deployments import DEPLOYMENT
from gridgov.flows.items import item_flow
from gridgov.ledger.owed import REPORT, mark_attempt, overdue, owing, record_start
from gridgov.ledger.progress import record
from gridgov.ledger.records import CaseRecord
from gridgov.runtime import Runtime

log = logging.getLogger("gridgov.launch")
# Launch failures by reason, for /healthz (per process; the log line has the details).
LAUNCH_FAILURES: Counter[str] = Counter()
IN_FLIGHT = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})


def next_attempt(attempts: int, flow_run_id: str | None) -> int:
    """The attempt number in the idempotency key of the reconciler's next start. Until a start
    is confirmed (its run id recorded) every start reuses attempt 0's key, the gateway's: a
    start that timed out on the caller's side may still have created its run (the gateway's
    1.5 s, under load), and Prefect then returns that run instead of queueing a second one
    (issue 12's drill: 4 duplicate report runs for 6 cases). After that, a new key each time."""
    return attempts + 1 if flow_run_id else 0


def left_alone(
    state: str | None, created: datetime | None, now: datetime, stale: timedelta
) -> bool:
    """Whether the reconciler leaves an owed step's last run alone. A Scheduled run (Late
    included) has not been claimed by a worker, so no worker can have died with it: it runs
    when one is free, and another start would only queue behind it (issue 12's drill, one
    busy worker: 24 queued review runs for 6 owed reviews, re-started every sweep). A run a
    worker claimed (Pending, Running, …) is left alone until it is stale: its worker may have
    been killed."""
    if state == "SCHEDULED":
        return True
    return state in IN_FLIGHT and created is not None and now - created < stale


Mode = LaunchMode  # one enum: the setting's values are the launcher's modes


@dataclass(frozen=True, slots=True)
class Started:
    """What happened after recording: a run started (``flow_run_id``/``state``) or the run is
    ``pending`` (owed; the reconciler starts it) with the ``reason``."""

    mode: Mode
    flow_run_id: str | None = None
    state: str | None = None
    pending: bool = False
    reason: str | None = None
    waits: str | None = None  # inline runs: where the case waits now (AwaitingReview…)

    @property
    def name(self) -> str | None:
        """The run's state name: where the case now waits (``AwaitingReview``…)."""
        return self.state


def run_tags(rt: Runtime, case: CaseRecord) -> list[str]:
    """Tags a supervisor filters by: tier, category, lead department, community, street."""
    item = rt.catalog.version(case.item_code, case.item_version)
    return [
        *item_tags(item),
        f"community:{case.community_code}",
        f"street:{case.street_code}",
    ]


def prefect_configured() -> bool:
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


class Launcher:
    def __init__(
        self, rt: Runtime, mode: LaunchMode = LaunchMode.INLINE, timeout: float | None = None
    ) -> None:
        """``timeout``: seconds to wait for Prefect to accept a run (default the gateway's
        ``GRIDGOV_LAUNCH_TIMEOUT``; the reconciler, with nobody waiting, waits longer)."""
        self.rt = rt
        self.mode = mode
        self.timeout = rt.settings.launch_timeout if timeout is None else timeout

    async def report(
        self,
        new: NewCase | dict[str, Any],
        actor: Actor,
        at: datetime,
        key: str,
        fix: Answer | None = None,
    ) -> tuple[CaseRecord, Started]:
        """上报: record the case (and the run it owes), then start its item flow. A field fix
        may come with the report (``fix``: the patroller's HANDLED answer with evidence): then
        the fix's run is the one owed (it does the report's steps too)."""
        # Ledger calls are blocking: keep them off the event loop (the gateway is async).
        owe = owing(None) if fix is None else None
        opened = await asyncio.to_thread(self.rt.book.open_case, new, actor, at, key, owe)
        case = opened.case
        if fix is not None:
            case = await asyncio.to_thread(self._record, case.case_no, fix, at)
        return case, await self.start(case, fix, at, fix.key if fix else key)

    async def answer(
        self, case_no: str, answer: Answer, at: datetime, recorded: CaseRecord | None = None
    ) -> Started:
        """Record the answer and the run it owes (refused at once, with nothing written, if not
        allowed), then run the case's next step; the flow replays the answer by its key.
        ``recorded``: the case as the caller's own transaction already recorded the answer and
        its owed run (the gateway), so it is not applied a second time."""
        if recorded is None:
            recorded = await asyncio.to_thread(self._record, case_no, answer, at)
        return await self.start(recorded, answer, at, answer.key)

    def _record(self, case_no: str, answer: Answer, at: datetime) -> CaseRecord:
        return record(self.rt.book, case_no, answer, at, owe=owing(answer)).case

    async def start(
        self, case: CaseRecord, answer: Answer | None, at: datetime, key: str, attempt: int = 0
    ) -> Started:
        """Start the run owed under ``key``; a start that fails or times out leaves it owed."""
        if self.mode == Mode.NONE:
            return Started(self.mode, pending=True, reason="recorded only (launch mode none)")
        if self.mode == Mode.AUTO and not prefect_configured():
            return Started(self.mode, pending=True, reason="recorded; no Prefect API configured")
        if self.mode == Mode.INLINE:
            state = await self._inline(case, answer, at)
            details = state.state_details
            run_id = str(details.flow_run_id) if details.flow_run_id else None
            waits = await waits_of(state, case.case_no)
            return Started(self.mode, flow_run_id=run_id, state=state.name, waits=waits)
        timeout = self.timeout
        try:
            run = await asyncio.wait_for(self._deployment(case, answer, at, key, attempt), timeout)
        except Exception as exc:  # Prefect down, slow or refusing: the run stays owed
            reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            LAUNCH_FAILURES[reason] += 1
            log.warning(
                "launch failed for %s (%s, key %s): %s; the run stays owed",
                case.case_no,
                answer.kind.value if answer else REPORT,
                key,
                reason if reason == "timeout" else exc,
            )
            return Started(self.mode, pending=True, reason=f"run not started yet ({reason})")
        await asyncio.to_thread(record_start, self.rt.book.factory, key, str(run.id))
        name = run.state.name if run.state else None
        return Started(self.mode, flow_run_id=str(run.id), state=name)

    async def _deployment(
        self, case: CaseRecord, answer: Answer | None, at: datetime, key: str, attempt: int
    ) -> Any:
        review = answer is not None and answer.kind.value in REVIEW_KINDS
        name = f"{'review-case' if review else flow_name(case.item_code)}/{DEPLOYMENT}"
        step = REPORT if answer is None else answer.kind.value
        return await arun_deployment(
            name,
            parameters={
                "case_no": case.case_no,
                "answer": answer.model_dump(mode="json") if answer is not None else None,
                "at": at.isoformat(),
            },
            timeout=0,
            tags=run_tags(self.rt, case),
            flow_run_name=f"{case.case_no} · {case.item_name} · {step}",
            # Prefect drops a second create with the same key: a retried start is one run.
            idempotency_key=f"{key}#{attempt}",
            # A run the sweep's reconciler starts is the case's own run, not a child of the
            # sweep: as a subflow the UI would nest it under ``supervise``, and the sweep would
            # pay for a parent task run per start.
            as_subflow=False,
        )

    async def _inline(self, case: CaseRecord, answer: Answer | None, at: datetime) -> State[Any]:
        review = answer is not None and answer.kind.value in REVIEW_KINDS
        with tags(*run_tags(self.rt, case)):
            if review:
                assert answer is not None
                state: State[Any] = await review_case(case.case_no, answer, at, return_state=True)
            else:
                state = await item_flow(case.item_code)(case.case_no, answer, at, return_state=True)
        if not state.is_completed():
            await state.aresult()  # re-raises the flow's error
        return state


@dataclass(frozen=True, slots=True)
class Reconciled:
    started: int = 0
    waiting: int = 0  # a run is in flight: left alone
    failed: int = 0


async def reconcile(rt: Runtime, now: datetime, mode: Mode) -> Reconciled:
    """Start every run owed for longer than the grace (never started, Crashed, Failed, or lost
    with a killed worker). Runs waiting for a worker are left alone; runs a worker claimed,
    until they are stale (``left_alone``).

    Each start may take up to 30 s, not the gateway's 1.5 s: nobody waits for the answer, and
    on a loaded stack (load 13, issue 12's fault test) Prefect took longer than 1.5 s to accept
    a run, so every sweep timed out on its first start and stopped there."""
    grace = timedelta(seconds=rt.settings.owed_run_grace)
    stale = max(grace, timedelta(seconds=rt.settings.owed_run_stale))
    due = await asyncio.to_thread(overdue, rt.book.factory, now, grace)
    if not due:
        return Reconciled()
    # A record-only gateway (mode none) still wants its runs: the reconciler starts them.
    launcher = Launcher(
        rt, Mode.AUTO if mode == Mode.NONE else mode, max(rt.settings.launch_timeout, 30.0)
    )
    states = await _run_states([o.flow_run_id for o in due if o.flow_run_id], mode)
    if states is None:
        return Reconciled(waiting=len(due))  # Prefect unreachable: try again next sweep
    started = waiting = failed = 0
    for n, owed in enumerate(due):
        state, created = states.get(owed.flow_run_id or "", (None, None))
        if left_alone(state, created, now, stale):
            waiting += 1
            continue
        case = await asyncio.to_thread(rt.book.get, owed.case_no)
        answer = Answer.model_validate(owed.answer) if owed.answer is not None else None
        try:
            attempt = next_attempt(owed.attempts, owed.flow_run_id)
            got = await launcher.start(case, answer, owed.at, owed.key, attempt)
        except Exception as exc:  # an inline run that failed: counted, tried again later
            await asyncio.to_thread(
                mark_attempt, rt.book.factory, owed.id, now, None, f"{type(exc).__name__}: {exc}"
            )
            failed += 1
            continue
        await asyncio.to_thread(
            mark_attempt, rt.book.factory, owed.id, now, got.flow_run_id, got.reason
        )
        if got.pending:  # Prefect down or refusing: the rest wait for the next sweep
            failed += len(due) - n - waiting
            break
        else:
            started += 1
    if started or failed:
        log.info(
            "reconciler: %d owed runs started, %d in flight, %d not started",
            started,
            waiting,
            failed,
        )
    return Reconciled(started, waiting, failed)


async def _run_states(
    ids: list[str], mode: Mode
) -> dict[str, tuple[str | None, datetime | None]] | None:
    """State type and creation time of the runs last started for owed steps (None: Prefect
    cannot be reached)."""
    if not ids or mode in (Mode.NONE, Mode.INLINE) or not prefect_configured():
        return {}
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    try:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(i) for i in ids]))
            )
    except Exception as exc:  # Prefect unreachable: start nothing blind, try next sweep
        log.warning("reconciler: cannot read run states (%s)", exc)
        return None
    return {str(r.id): (r.state_type.value if r.state_type else None, r.created) for r in runs}
