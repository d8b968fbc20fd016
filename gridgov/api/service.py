"""What the gateway does with a command: check access, record it, start the case's run.

Recording comes first and decides the answer: ``CaseBook`` validates, raises typed errors with
nothing written, or writes one event and the run it owes in one transaction (a repeated
idempotency key replays instead). Then :class:`~gridgov.flows.launch.Launcher` starts the run;
when it cannot within ``GRIDGOV_LAUNCH_TIMEOUT`` the answer is 202 "recorded, run pending" and
the sweep's reconciler starts it later. A run is started on replays too; the flows are
idempotent. An answer to a case not yet dispatched is ``409 not_dispatched_yet``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from gridgov import clock
from gridgov.api.access import check_may_report, check_visible
from gridgov.api.errors import LaunchFailed
from gridgov.api.health import keep_access_log
from gridgov.api.keystore import Principal
from gridgov.api.schemas import ActionOut, CaseCreated, CaseIn, CaseOut, EventOut, RunOut
from gridgov.domain.commands import Answer, NewCase
from gridgov.domain.enums import CaseStatus, LaunchMode, Role, Tier
from gridgov.domain.errors import GridgovError, InvalidInput, NotDispatchedYet, NotPermitted
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.ledger.owed import owing
from gridgov.ledger.progress import record
from gridgov.ledger.records import ActResult, CaseRecord
from gridgov.runtime import Runtime

if TYPE_CHECKING:
    from gridgov.flows.launch import Launcher, Started

# Answers a department or community gives once a case is dispatched to it.
UNIT_ANSWERS = frozenset(
    {
        EventKind.ACKNOWLEDGED,
        EventKind.ARRIVED,
        EventKind.HANDLED,
        EventKind.RETURNED,
        EventKind.EXTENSION_REQUESTED,
        EventKind.ASSISTED,
    }
)


def _not_dispatched_yet(p: Principal, case: CaseRecord, kind: EventKind) -> bool:
    """The unit the case will go to answers before its report run dispatched it (a run
    pending behind a busy worker): 409, where anyone else still gets 403."""
    if case.status != CaseStatus.REPORTED or case.tier == Tier.FIELD_FIX:
        return False
    if kind not in UNIT_ANSWERS:
        return False
    if p.role == Role.DEPARTMENT:
        return p.department in {case.lead_department, *case.assisting}
    return p.role == Role.COMMUNITY and p.scope == case.community_code


def stored_key(prefix: str, client_key: str) -> str:
    """Keys are per API key, so two systems choosing the same key never collide."""
    return f"api:{prefix}:{client_key}"


def scoped_key(p: Principal, client_key: str | None) -> str:
    return stored_key(p.prefix, client_key or uuid.uuid4().hex)


SOURCE_ID_MAX = 128  # the ledger's column


def own_source_id(p: Principal, source_id: str) -> str:
    """``<prefix>:<source_id>``: the form citizen requests already use for their cases."""
    scoped = f"{p.prefix}:{source_id}"
    if len(scoped) > SOURCE_ID_MAX:
        most = SOURCE_ID_MAX - len(p.prefix) - 1
        raise InvalidInput(f"source_id: at most {most} characters", field="source_id")
    return scoped


def pick_key(header: str | None, body: str | None) -> str | None:
    if header is not None and body is not None and header != body:
        raise InvalidInput(
            "Idempotency-Key header and body idempotency_key differ", field="idempotency_key"
        )
    return header if header is not None else body


@dataclass
class CaseService:
    rt: Runtime
    mode: LaunchMode | str = LaunchMode.NONE
    _launcher: Launcher | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            self.mode = LaunchMode(self.mode)
        except ValueError:
            modes = ", ".join(m.value for m in LaunchMode)
            raise InvalidInput(f"launch mode must be one of {modes}", field="launch_mode") from None

    def launcher(self) -> Launcher:
        # Imported here: the flows module builds one flow per catalogue item at import time,
        # which a record-only gateway (mode none) does not need.
        from gridgov.flows.launch import Launcher

        if self._launcher is None:
            self._launcher = Launcher(self.rt, LaunchMode(self.mode))
            keep_access_log()  # loading the flows ran Prefect's logging setup
        return self._launcher

    def launcher_if_loaded(self) -> Launcher | None:
        return self._launcher

    # ------------------------------------------------------------------ create
    async def create(self, p: Principal, body: CaseIn, key: str | None) -> CaseCreated:
        if p.role == Role.MACHINE:  # one case per event would skip dedupe and event ids
            raise NotPermitted(
                "a machine key posts event batches (/v1/intake/events)", field="role"
            )
        new = NewCase.model_validate(body.new_case())
        if new.source_id is not None:
            # A key's source ids live in its own namespace, so no app can take ids another
            # key writes (e.g. the <prefix>:<request id> of a citizen app's requests).
            new = new.model_copy(update={"source_id": own_source_id(p, new.source_id)})
        if new.community in self.rt.catalog.territory:
            street = self.rt.catalog.territory[new.community].parent or ""
            check_may_report(p, new.community, street, new.source.value)
        if body.fix is not None and p.role != Role.PATROLLER:
            raise NotPermitted("only a patroller reports a field fix", field="fix")
        actor, at, stored_key = p.actor(), clock.now(), scoped_key(p, key)
        # Recorded here (refusals answer at once); start_report replays it and writes the
        # run it owes in the same transaction as the first recording would have.
        opened = await run_in_threadpool(
            self.rt.book.open_case,
            new,
            actor,
            at,
            stored_key,
            owing(None) if body.fix is None else None,  # with a fix, the fix's run is owed
        )
        if opened.replayed:  # a repeat shows the case only if the key may still see it
            check_visible(p, opened.case, self.rt.book.factory)
        fix = None
        if body.fix is not None:
            fix = Answer(
                kind=EventKind.HANDLED,
                role=p.role.value,
                actor=actor.name,
                payload=body.fix.model_dump(exclude_none=True),
                key=f"{stored_key}:fix",
            )
        case, run = await self.start_report(opened.case, new, actor, at, stored_key, fix)
        return CaseCreated(case=CaseOut.of(case), replayed=opened.replayed, run=run)

    async def start_report(
        self,
        recorded: CaseRecord,
        new: NewCase,
        actor: Actor,
        at: datetime,
        key: str,
        fix: Answer | None = None,
    ) -> tuple[CaseRecord, RunOut]:
        """Start the item flow of a case already recorded under ``key`` (the flow replays the
        record); a run not started is pending (owed, 202)."""
        try:
            case, run = await self.launcher().report(new, actor, at, key, fix)
        except GridgovError:
            raise
        except Exception as exc:  # an inline run that failed: the step is recorded and owed
            raise self._launch_failed(recorded.case_no, exc) from exc
        return self._fresh(case), self._run(run)

    # ------------------------------------------------------------------ act
    async def act(
        self,
        p: Principal,
        case_no: str,
        kind: EventKind,
        payload: dict[str, Any],
        key: str | None,
    ) -> ActionOut:
        case = await run_in_threadpool(self.rt.book.get, case_no)
        if _not_dispatched_yet(p, case, kind):
            raise NotDispatchedYet(
                f"case {case_no} is recorded but not dispatched yet (its report run is pending); "
                "answer once it is dispatched",
                field="case_no",
            )
        check_visible(p, case, self.rt.book.factory)
        actor = p.actor()
        answer = Answer(
            kind=kind,
            role=p.role.value,
            actor=actor.name,
            department=actor.department,
            community=actor.community,
            payload=payload,
            key=scoped_key(p, key),
        )
        at = clock.now()
        done = await self._record(case_no, answer, at)
        try:
            # One answer, one transaction: the launcher starts from what _record wrote.
            run = self._run(await self.launcher().answer(case_no, answer, at, done.case))
        except GridgovError:
            raise
        except Exception as exc:  # an inline run that failed: the step is recorded and owed
            raise self._launch_failed(case_no, exc) from exc
        return ActionOut(
            case=CaseOut.of(self._fresh(done.case)),
            event=EventOut.of(done.event),
            replayed=done.replayed,
            run=run,
        )

    # ------------------------------------------------------------------ helpers
    async def _record(self, case_no: str, answer: Answer, at: datetime) -> ActResult:
        # live: ``at`` is now; an answer recorded meanwhile moves it on (409, not a time error)
        return await run_in_threadpool(
            partial(record, live=True, owe=owing(answer)), self.rt.book, case_no, answer, at
        )

    def _fresh(self, case: CaseRecord) -> CaseRecord:
        """In-process runs move the case on (dispatch, review…): show where it is now."""
        return self.rt.book.get(case.case_no) if self.mode == LaunchMode.INLINE else case

    def _run(self, run: Started) -> RunOut:
        return RunOut(
            mode=run.mode.value,
            flow_run_id=run.flow_run_id,
            state=run.state,
            pending=run.pending,
            detail=run.reason,
            waits=run.waits,
        )

    def _launch_failed(self, case_no: str, exc: Exception) -> LaunchFailed:
        return LaunchFailed(
            f"case {case_no} is recorded, but its flow run could not be started "
            f"({type(exc).__name__}: {exc}); it is owed and the sweep will start it again"
        )
