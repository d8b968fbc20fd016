"""What the gateway does with intake: machine-event batches and citizen requests.

* A batch of AI-camera / IoT events goes through ``BulkIntake`` exactly as a file does
  (validate each row, skip events seen before, deduplicate, write in bulk); refused rows are
  answered by line and field and write nothing. The key is recorded as the actor of every
  ``created`` event; a scoped key may report only in its street or community.
* A citizen request is classified and routed by ``CitizenDesk``; a sure one becomes a case
  (recorded with the key as its reporter-actor, then its item flow is started like any new
  case), an unsure one waits in the dispatcher's queue, where a dispatcher assigns its item
  or rejects it. Request ids are per key (stored as ``<key prefix>:<request_id>``), so two
  apps choosing the same id never meet; so are event ids.
* Times a client gives (an event's ``at``, a request's ``received_at``) open the case and
  start its deadlines: they may be at most 5 minutes ahead of the gateway's clock and 7 days
  behind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
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
from gridgov.intake.machine import MachineEvent, content_id
from gridgov.ledger.owed import owing
from gridgov.ledger.records import CaseRecord

MAX_EVENTS = 5_000
MAX_ID = 100  # + "<8 hex>:" fits the ledger's 128 characters
# How far a client's own times (an event's ``at``, a request's ``received_at``) may be from
# the gateway's clock: they open the case and start its deadlines.
MAX_AHEAD = timedelta(minutes=5)
MAX_BEHIND = timedelta(days=7)
SUBMITTERS = frozenset({Role.MACHINE, Role.DISPATCHER})
REQUESTERS = frozenset({Role.CITIZEN, Role.DISPATCHER})
QUEUE_READERS = OVERSIGHT | {Role.COMMUNITY}


def require(p: Principal, roles: frozenset[Role], what: str) -> None:
    if p.role not in roles:
        names = " or ".join(sorted(r.value for r in roles))
        raise NotPermitted(f"{what} needs a {names} key, not {p.role.value}", field="role")


def time_problem(at: datetime, now: datetime) -> str | None:
    if at > now + MAX_AHEAD:
        return f"{at.isoformat()} is in the future (the gateway's clock says {now.isoformat()})"
    if at < now - MAX_BEHIND:
        return f"{at.isoformat()} is more than {MAX_BEHIND.days} days old"
    return None


def own_id(p: Principal, row: Any) -> Any:
    """Event ids are per key (``<prefix>:<id>``; a content hash when none is given), so two
    platforms numbering their events alike never shadow each other."""
    if not isinstance(row, Mapping):
        return row
    given = row.get("event_id")
    if given is not None and (not isinstance(given, str) or _long_id(row)):
        return row  # refused as it is (a wrong type, or too long: see ``vet``)
    return {**row, "event_id": f"{p.prefix}:{given or content_id(row)}"}


@dataclass
class IntakeService:
    cases: CaseService

    @property
    def desk(self) -> CitizenDesk:
        return CitizenDesk(self.cases.rt.book)

    # ------------------------------------------------------------------ machine events
    async def ingest(
        self, p: Principal, numbered: Sequence[tuple[int, Any]], window: float
    ) -> IntakeOut:
        """``numbered``: (line, event object — or the reason it could not be read)."""
        require(p, SUBMITTERS, "posting machine events")
        if not numbered:
            raise InvalidInput("the batch has no events", field="events")
        if len(numbered) > MAX_EVENTS:
            raise InvalidInput(
                f"at most {MAX_EVENTS} events per batch, not {len(numbered)}", field="events"
            )
        too_long = [n for n, row in numbered if isinstance(row, Mapping) and _long_id(row)]
        now = clock.now()

        def vet(ev: MachineEvent) -> tuple[str, str] | None:
            if ev.line in too_long:
                return "event_id", f"at most {MAX_ID} characters"
            if not in_scope(p.scope, ev.street, ev.community):
                return "community", f"{ev.community} is outside this key's area"
            problem = time_problem(ev.at, now)
            return ("at", problem) if problem else None

        report: IngestReport = await run_in_threadpool(
            ingest_events,
            self.cases.rt.book,
            [own_id(p, row) for _, row in numbered],
            window_minutes=window,
            by=p.actor(),
            vet=vet,
            lines=[n for n, _ in numbered],
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
        if len(req.request_id) > MAX_ID:
            raise InvalidInput(f"request_id is at most {MAX_ID} characters", field="request_id")
        if (problem := time_problem(req.received_at, clock.now())) is not None:
            raise InvalidInput(f"received_at {problem}", field="received_at")
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
        """Safe to repeat with the same item: a repeat (e.g. after a failed flow start)
        answers as the first did and starts the case's flow again."""
        require(p, frozenset({Role.DISPATCHER}), "assigning a request")
        desk, book = self.desk, self.cases.rt.book
        self._check_area(p, await run_in_threadpool(desk.get, request))

        def record_only(new: NewCase, _: Actor, at: datetime, key: str) -> CaseRecord:
            return book.open_case(new, p.actor(), at, key).case  # the dispatcher opens it

        outcome = await run_in_threadpool(
            desk.assign, request, item_code, p.actor_name, clock.now(), record_only
        )
        new, req = await run_in_threadpool(desk.case_for, request, item_code)
        case = await run_in_threadpool(book.get, outcome.case_no or "")
        _, run = await self.cases.start_report(case, new, p.actor(), req.received_at, req.key)
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
        opened = await run_in_threadpool(
            self.cases.rt.book.open_case, new, actor, at, key, owing(None)
        )
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


def _long_id(row: Mapping[str, Any]) -> bool:
    given = row.get("event_id")
    return isinstance(given, str) and len(given) > MAX_ID
