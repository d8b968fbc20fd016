"""Citizen requests (书记在线 / 民意速办): classify, route to the building's grid, open a case —
or hold the request for the dispatcher when the classifier is unsure.

* A sure request becomes a case of its item (source ``citizen``, or ``hotline``) in the grid
  its QR code names, reported at the moment the request was received; the case book queues
  the SMS receipt, the item flow (or ``progress.advance``) dispatches it.
* An unsure one is stored ``queued`` in ``citizen_requests`` with its candidates; the
  citizen still gets the receipt at once and the dispatcher a ``classify_needed`` notice. The
  dispatcher then ``assign``s an item (the case is opened as of the original receipt, so the
  citizen clock keeps counting from then) or ``reject``s it as not a governance matter.

Idempotent by (channel, request_id): submitting the same request again returns what
happened the first time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, StringConstraints, ValidationError
from sqlalchemy import not_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov.domain.commands import NewCase, first_error
from gridgov.domain.enums import Role, Source
from gridgov.domain.errors import InvalidInput, InvalidTransition, NotFound
from gridgov.domain.lifecycle import Actor
from gridgov.domain.routing import UnsatisfiedPolicy
from gridgov.domain.text import CleanText
from gridgov.intake.classify import Classifier, ClassifierRule, Decision
from gridgov.intake.places import BuildingDirectory, Place, check_place, parse_qr
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.models import Case, Notification
from gridgov.ledger.progress import advance
from gridgov.ledger.records import CaseRecord
from gridgov.ledger.risk_models import CitizenRequest

Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", max_length=32)]
# How a case is opened: inline (CaseBook + progress.advance) or through a flow run.
Opener = Callable[[NewCase, Actor, datetime, str], CaseRecord]


class CitizenRequestIn(CleanText):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    channel: Literal["qr", "app", "hotline"]
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    reporter: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    received_at: AwareDatetime
    qr: Annotated[str, StringConstraints(max_length=300)] | None = None
    community: Code | None = None
    grid: Code | None = None
    building: Annotated[str, StringConstraints(max_length=120)] | None = None

    @property
    def source(self) -> Source:
        return Source.HOTLINE if self.channel == "hotline" else Source.CITIZEN

    @property
    def key(self) -> str:
        return f"citizen:{self.channel}:{self.request_id}"


@dataclass(frozen=True)
class RequestOutcome:
    id: int
    channel: str
    request_id: str
    status: str  # opened | queued | assigned | rejected
    item_code: str | None
    case_no: str | None
    candidates: list[dict[str, Any]]
    community: str = ""


@dataclass(frozen=True)
class Prepared:
    request: CitizenRequestIn
    place: Place | None
    decision: Decision | None
    done: RequestOutcome | None  # handled before: this is what happened


def inline_opener(book: CaseBook, spot_share: float = 0.2, policy: str = "reopen") -> Opener:
    """Open the case and run the automatic steps (dispatch) in this process."""

    def open_(new: NewCase, actor: Actor, at: datetime, key: str) -> CaseRecord:
        case = book.open_case(new, actor, at, key).case
        step = advance(
            book, case.case_no, None, at, spot_share=spot_share, policy=UnsatisfiedPolicy(policy)
        )
        return step.case

    return open_


class CitizenDesk:
    def __init__(
        self,
        book: CaseBook,
        rule: ClassifierRule | None = None,
        directory: BuildingDirectory | None = None,
    ) -> None:
        self.book = book
        self.rule = rule or ClassifierRule()
        self.directory = directory
        self._classifiers: dict[tuple[Source, date], Classifier] = {}

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def parse(data: CitizenRequestIn | dict[str, Any]) -> CitizenRequestIn:
        if isinstance(data, CitizenRequestIn):
            return data
        try:
            return CitizenRequestIn.model_validate(data)
        except ValidationError as exc:
            raise first_error(exc) from exc

    def place(self, req: CitizenRequestIn) -> Place:
        territory = self.book.catalog.territory
        if req.qr:
            return parse_qr(req.qr, territory)
        if req.community and req.grid:
            return check_place(Place(req.community, req.grid, req.building), territory, "grid")
        if req.building and self.directory is not None:
            found = self.directory.find(req.building)
            if found is not None:
                return found
            raise InvalidInput(
                f"building {req.building!r} is not in the register", field="building"
            )
        raise InvalidInput("give a QR code, community + grid, or a known building", field="qr")

    def classifier(self, source: Source, day: date) -> Classifier:
        key = (source, day)
        if key not in self._classifiers:
            items = self.book.catalog.in_force(day)
            self._classifiers[key] = Classifier(items, source, self.rule)
        return self._classifiers[key]

    def classify(self, req: CitizenRequestIn) -> Decision:
        day = req.received_at.astimezone(self.book.calendar.tz).date()
        return self.classifier(req.source, day).classify(req.text)

    def find(self, channel: str, request_id: str) -> RequestOutcome | None:
        with self.book.factory() as s:
            row = s.scalar(
                select(CitizenRequest).where(
                    CitizenRequest.channel == channel, CitizenRequest.request_id == request_id
                )
            )
            return None if row is None else self._outcome(s, row)

    # ------------------------------------------------------------------ commands
    def prepare(self, data: CitizenRequestIn | dict[str, Any]) -> Prepared:
        """Validate, route and classify; ``done`` is set when the request was handled before."""
        req = self.parse(data)
        done = self.find(req.channel, req.request_id)
        if done is not None:
            return Prepared(req, None, None, done)
        return Prepared(req, self.place(req), self.classify(req), None)

    def new_case(self, p: Prepared) -> tuple[NewCase, Actor, datetime, str] | None:
        """What to open for a sure request (None: it waits for the dispatcher)."""
        if p.done is not None or p.decision is None or p.decision.item_code is None:
            return None
        assert p.place is not None
        new = self._new_case(p.request, p.place, p.decision.item_code)
        return new, self._actor(p.request), p.request.received_at, p.request.key

    def record(self, p: Prepared, case: CaseRecord | None) -> RequestOutcome:
        if p.done is not None:
            return p.done
        assert p.place is not None and p.decision is not None
        return self._record(p.request, p.place, p.decision, case)

    def submit(self, data: CitizenRequestIn | dict[str, Any], opener: Opener) -> RequestOutcome:
        """Classify and route one request; see the module docstring."""
        p = self.prepare(data)
        todo = self.new_case(p)
        return self.record(p, opener(*todo) if todo is not None else None)

    def assign(
        self, request: int, item_code: str, dispatcher: str, at: datetime, opener: Opener
    ) -> RequestOutcome:
        """The dispatcher picks the item of a queued request; its case is opened now, as of
        the receipt (the citizen's clock has been running since then).

        Safe to repeat: a request already assigned this item answers as it did (so a caller
        whose flow start failed can try again); another item is refused. A crash between
        opening the case and marking the request is mended by the repeat (the case book
        replays the opening by the request's key)."""
        new, req = self.case_for(request, item_code)
        with self.book.factory() as s:
            row = self._get(s, request)
            if row.status == "assigned" and row.item_code == item_code:
                return self._outcome(s, row)
            self._queued(s, request)
        case = opener(new, self._actor(req), req.received_at, req.key)
        with self.book.factory() as s, s.begin():
            row = self._queued(s, request)
            row.status, row.item_code, row.case_id = "assigned", item_code, case.id
            row.decided_by, row.decided_at = dispatcher, at
            self._one_receipt(s, req.key, case.id)
            s.flush()
            return self._outcome(s, row)

    def case_for(self, request: int, item_code: str) -> tuple[NewCase, CitizenRequestIn]:
        """The case a request becomes once ``item_code`` is picked (and the request)."""
        with self.book.factory() as s:
            row = self._get(s, request)
            req = CitizenRequestIn(
                channel=row.channel,
                request_id=row.request_id,
                reporter=row.reporter,
                text=row.text,
                received_at=row.received_at,
                community=row.community_code,
                grid=row.grid_code,
                building=row.building,
            )
            place = Place(row.community_code, row.grid_code or "", row.building)
        return self._new_case(req, place, item_code), req

    def reject(self, request: int, dispatcher: str, reason: str, at: datetime) -> RequestOutcome:
        """Not a governance matter: the citizen is told why; no case is opened."""
        if not reason.strip():
            raise InvalidInput("give the citizen a reason", field="reason")
        with self.book.factory() as s, s.begin():
            row = self._queued(s, request)
            opened = s.scalar(
                select(Case.case_no).where(
                    Case.source_system == f"citizen:{row.channel}",
                    Case.source_id == row.request_id,
                )
            )
            if opened is not None:  # an assignment got as far as the case: finish that
                raise InvalidTransition(
                    f"case {opened} was already opened for request {request}: assign it",
                    field="status",
                )
            row.status, row.decided_by, row.decided_at = "rejected", dispatcher, at
            s.add(
                _notice(
                    None,
                    "request_rejected",
                    f"citizen:{row.reporter}",
                    {"request": row.request_id, "reason": reason.strip()},
                    at,
                    f"citizen:{row.channel}:{row.request_id}|rejected",
                )
            )
            s.flush()
            return self._outcome(s, row)

    def get(self, request: int) -> RequestOutcome:
        with self.book.factory() as s:
            return self._outcome(s, self._get(s, request))

    def queue(self, community: str | None = None) -> list[RequestOutcome]:
        """Requests waiting for the dispatcher, oldest first."""
        with self.book.factory() as s:
            q = select(CitizenRequest).where(CitizenRequest.status == "queued")
            if community is not None:
                q = q.where(CitizenRequest.community_code == community)
            return [self._outcome(s, r) for r in s.scalars(q.order_by(CitizenRequest.received_at))]

    # ------------------------------------------------------------------ internals
    def _new_case(self, req: CitizenRequestIn, place: Place, item_code: str) -> NewCase:
        try:
            return self._build_case(req, place, item_code)
        except ValidationError as exc:
            raise first_error(exc) from exc

    @staticmethod
    def _build_case(req: CitizenRequestIn, place: Place, item_code: str) -> NewCase:
        return NewCase(
            item_code=item_code,
            community=place.community,
            grid=place.grid or None,
            building=place.building,
            source=req.source,
            reporter=req.reporter,
            description=req.text,
            source_system=f"citizen:{req.channel}",
            source_id=req.request_id,
        )

    @staticmethod
    def _actor(req: CitizenRequestIn) -> Actor:
        return Actor(Role.CITIZEN, req.reporter)

    def _record(
        self, req: CitizenRequestIn, place: Place, decision: Decision, case: CaseRecord | None
    ) -> RequestOutcome:
        row = CitizenRequest(
            channel=req.channel,
            request_id=req.request_id,
            received_at=req.received_at,
            reporter=req.reporter,
            text=req.text,
            community_code=place.community,
            grid_code=place.grid or None,
            building=place.building,
            status="opened" if case is not None else "queued",
            item_code=decision.item_code,
            score=decision.score,
            margin=decision.margin,
            candidates=[
                {"code": c.code, "score": c.score, "terms": list(c.terms)}
                for c in decision.candidates
            ],
            case_id=case.id if case is not None else None,
        )
        try:
            with self.book.factory() as s, s.begin():
                s.add(row)
                if case is None:  # the receipt now; the dispatcher is asked to classify
                    at = req.received_at
                    body = {"request": req.request_id, "reason": decision.reason}
                    s.add(
                        _notice(
                            None,
                            "received",
                            f"citizen:{req.reporter}",
                            body,
                            at,
                            f"{req.key}|received",
                        )
                    )
                    s.add(
                        _notice(
                            None,
                            "classify_needed",
                            f"dispatcher:{place.community}",
                            body,
                            at,
                            f"{req.key}|classify_needed",
                        )
                    )
                s.flush()
                return self._outcome(s, row)
        except IntegrityError:  # recorded meanwhile by a retry of the same request
            done = self.find(req.channel, req.request_id)
            if done is None:
                raise
            return done

    @staticmethod
    def _one_receipt(s: Session, request_key: str, case_id: int) -> None:
        """The citizen got the receipt when the request was queued: that notice now belongs
        to the case (the citizen clock reads it), and the case's own receipt is not sent."""
        receipt = Notification.idempotency_key == f"{request_key}|received"
        s.execute(update(Notification).where(receipt).values(case_id=case_id))
        s.execute(
            update(Notification)
            .where(
                Notification.case_id == case_id,
                Notification.kind == "received",
                Notification.status == "pending",
                not_(receipt),
            )
            .values(status="skipped", last_error="receipt already sent when it was queued")
        )

    @staticmethod
    def _get(s: Session, request: int) -> CitizenRequest:
        row = s.get(CitizenRequest, request)
        if row is None:
            raise NotFound(f"no citizen request {request}", field="request")
        return row

    @classmethod
    def _queued(cls, s: Session, request: int) -> CitizenRequest:
        row = cls._get(s, request)
        if row.status != "queued":
            raise InvalidTransition(
                f"request {request} is {row.status}, not queued", field="status"
            )
        return row

    @staticmethod
    def _outcome(s: Session, row: CitizenRequest) -> RequestOutcome:
        case_no = (
            s.scalar(select(Case.case_no).where(Case.id == row.case_id)) if row.case_id else None
        )
        return RequestOutcome(
            id=row.id,
            channel=row.channel,
            request_id=row.request_id,
            status=row.status,
            item_code=row.item_code,
            case_no=case_no,
            candidates=list(row.candidates),
            community=row.community_code,
        )


def _notice(
    case_id: int | None, kind: str, recipient: str, body: dict[str, Any], at: datetime, key: str
) -> Notification:
    return Notification(
        case_id=case_id,
        kind=kind,
        recipient=recipient,
        body=body,
        status="pending",
        attempts=0,
        created_at=at,
        idempotency_key=key[:200],
    )
