"""What the gateway does with intake: machine-event batches and citizen requests.

* A batch of AI-camera / IoT events goes through ``BulkIntake`` exactly as a file does
  (validate each row, skip events seen before, deduplicate, write in bulk); refused rows are
  answered by line and field and write nothing. The key is recorded as the actor of every
  ``created`` event; a scoped key may report only in its street or community.
* A citizen request is classified and routed by ``CitizenDesk``; a sure one becomes a case
  (recorded with the key as its reporter-actor, then its item flow is started like any new
  case), an unsure one waits in the dispatcher's queue, where a dispatcher assigns its item
  or rejects it. Request ids are per key (stored as ``<key prefix>:<request_id>``), so two
  apps choosing the same id never meet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from gridgov import clock
from gridgov.api.access import OVERSIGHT, check_may_report, in_scope
from gridgov.api.keystore import Principal
from gridgov.api.schemas import CitizenRequestOut, IntakeOut, RefusedRow, RunOut
from gridgov.api.service import CaseService
from gridgov.domain.commands import NewCase
from gridgov.domain.enums import Role
from gridgov.domain.errors import InvalidInput, NotPermitted
from gridgov.domain.lifecycle import Actor
from gridgov.intake.bulk import IngestReport, ingest_events
from gridgov.intake.citizen import CitizenDesk, RequestOutcome
from gridgov.ledger.records import CaseRecord

MAX_EVENTS = 5_000
MAX_REQUEST_ID = 100  # + "<8 hex>:" fits the ledger's 128 characters
SUBMITTERS = frozenset({Role.MACHINE, Role.DISPATCHER})
REQUESTERS = frozenset({Role.CITIZEN, Role.DISPATCHER})
QUEUE_READERS = OVERSIGHT | {Role.COMMUNITY}


def require(p: Principal, roles: frozenset[Role], what: str) -> None:
    if p.role not in roles:
        names = " or ".join(sorted(r.value for r in roles))
        raise NotPermitted(f"{what} needs a {names} key, not {p.role.value}", field="role")


@dataclass
class IntakeService:
    cases: CaseService

    @property
    def desk(self) -> CitizenDesk:
        return CitizenDesk(self.cases.rt.book)

    # ------------------------------------------------------------------ machine events
    async def ingest(
        self, p: Principal, events: Sequence[Mapping[str, Any] | Any], window: float
    ) -> IntakeOut:
        require(p, SUBMITTERS, "posting machine events")
        if not events:
            raise InvalidInput("the batch has no events", field="events")
        if len(events) > MAX_EVENTS:
            raise InvalidInput(
                f"at most {MAX_EVENTS} events per batch, not {len(events)}", field="events"
            )

        def allowed(community: str, street: str) -> bool:
            return in_scope(p.scope, street, community)

        report: IngestReport = await run_in_threadpool(
            ingest_events,
            self.cases.rt.book,
            events,
            window_minutes=window,
            by=p.actor(),
            allowed=allowed,
        )
        if report.errors and len({e.line for e in report.errors}) == report.rows:  # none good
            first = report.errors[0]
            raise InvalidInput(
                f"no event accepted; line {first.line}: {first.message} "
                f"({len(report.errors)} rows refused)",
                field=f"events[{first.line}].{first.field}",
            )
        return IntakeOut(
            rows=report.rows,
            opened=report.opened,
            repeats=report.repeats,
            already=report.already,
            refused=[
                RefusedRow(line=e.line, field=e.field, message=e.message) for e in report.errors
            ],
            case_nos=report.case_nos,
        )

    # ------------------------------------------------------------------ citizen requests
    async def submit(self, p: Principal, data: Mapping[str, Any]) -> CitizenRequestOut:
        require(p, REQUESTERS, "submitting a citizen request")
        req = CitizenDesk.parse(dict(data))
        if len(req.request_id) > MAX_REQUEST_ID:
            raise InvalidInput(
                f"request_id is at most {MAX_REQUEST_ID} characters", field="request_id"
            )
        req = req.model_copy(update={"request_id": f"{p.prefix}:{req.request_id}"})
        desk = self.desk
        prepared = await run_in_threadpool(desk.prepare, req)
        if prepared.place is not None:
            street = self.cases.rt.catalog.territory[prepared.place.community].parent or ""
            check_may_report(p, prepared.place.community, street, req.source.value)
        todo = desk.new_case(prepared)
        case, run = None, None
        if todo is not None:
            new, _, at, key = todo
            case, run = await self._open(new, p.actor(), at, key)
        outcome = await run_in_threadpool(desk.record, prepared, case)
        return _out(outcome, run)

    async def queue(self, p: Principal) -> list[CitizenRequestOut]:
        require(p, QUEUE_READERS, "reading the request queue")
        rows = await run_in_threadpool(self.desk.queue)
        return [_out(r) for r in rows if self._may_see(p, r)]

    async def assign(self, p: Principal, request: int, item_code: str) -> CitizenRequestOut:
        require(p, frozenset({Role.DISPATCHER}), "assigning a request")
        desk = self.desk
        self._check_area(p, await run_in_threadpool(desk.get, request))
        opened: list[tuple[NewCase, datetime, str]] = []
        book = self.cases.rt.book

        def record_only(new: NewCase, _: Actor, at: datetime, key: str) -> CaseRecord:
            opened.append((new, at, key))  # the dispatcher is who opens it
            return book.open_case(new, p.actor(), at, key).case

        now = clock.now()
        outcome = await run_in_threadpool(
            desk.assign, request, item_code, p.actor_name, now, record_only
        )
        run = None
        if opened:
            new, at, key = opened[0]
            _, run = await self.cases.start_report(
                book.get(outcome.case_no or ""), new, p.actor(), at, key
            )
        return _out(outcome, run)

    async def reject(self, p: Principal, request: int, reason: str) -> CitizenRequestOut:
        require(p, frozenset({Role.DISPATCHER}), "rejecting a request")
        desk = self.desk
        self._check_area(p, await run_in_threadpool(desk.get, request))
        outcome = await run_in_threadpool(desk.reject, request, p.actor_name, reason, clock.now())
        return _out(outcome)

    # ------------------------------------------------------------------ helpers
    async def _open(
        self, new: NewCase, actor: Actor, at: datetime, key: str
    ) -> tuple[CaseRecord, RunOut]:
        opened = await run_in_threadpool(self.cases.rt.book.open_case, new, actor, at, key)
        return await self.cases.start_report(opened.case, new, actor, at, key)

    def _may_see(self, p: Principal, r: RequestOutcome) -> bool:
        street = self.cases.rt.catalog.territory[r.community].parent or ""
        return in_scope(p.scope, street, r.community)

    def _check_area(self, p: Principal, r: RequestOutcome) -> None:
        if not self._may_see(p, r):
            raise NotPermitted(
                f"request {r.id} is in {r.community}, outside this key's area {p.scope}",
                field="request",
            )


def _out(o: RequestOutcome, run: RunOut | None = None) -> CitizenRequestOut:
    shown = {k: v for k, v in asdict(o).items() if k != "community"}
    return CitizenRequestOut(**shown, run=run)
