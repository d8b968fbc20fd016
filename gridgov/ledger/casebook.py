"""The case book: opens cases and applies events to them through the transition table.

Every command runs in one transaction: the rules are checked first (domain), then the case
row changes and one ``case_events`` row is appended. A command whose idempotency key was
already used for the same case and kind is a replay: it returns the earlier outcome and
writes nothing. Anything refused raises a typed error and leaves the ledger untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from gridgov.domain import keys
from gridgov.domain.calendar import Duration, WorkingCalendar
from gridgov.domain.commands import NewCase, first_error, parse_payload
from gridgov.domain.deadlines import DeadlineRules, Ladder, due_after
from gridgov.domain.enums import CaseStatus, Role, Tier, TimeUnit
from gridgov.domain.errors import (
    ConcurrentUpdate,
    GridgovError,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
)
from gridgov.domain.lifecycle import COMMUNITY_UNIT, Actor, CaseView, EventKind, decide
from gridgov.domain.routing import CaseFacts, notices
from gridgov.domain.territory import place_problem
from gridgov.domain.tiers import path
from gridgov.item_catalog.loader import Catalog, deadline_rules
from gridgov.ledger import timers
from gridgov.ledger.chain import link_event
from gridgov.ledger.clocks import recount, set_clock, start_work
from gridgov.ledger.db import session_factory, transaction
from gridgov.ledger.models import Case, CaseCounter, CaseEvent, Notification
from gridgov.ledger.owed import Owing, add_owed
from gridgov.ledger.records import ActResult, CaseRecord, EventRecord

T = TypeVar("T")
MAX_ATTEMPTS = 5


def _aware(at: datetime, field: str = "at") -> datetime:
    if at.tzinfo is None:
        raise InvalidInput(f"{field}: naive datetime, give a timezone", field=field)
    return at.astimezone(UTC)


_key = keys.check


class CaseBook:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        calendar: WorkingCalendar,
        ladder: Ladder | None = None,
    ) -> None:
        self.engine = engine
        self.factory = session_factory(engine)
        self.catalog = catalog
        self.calendar = calendar
        self.ladder = ladder or Ladder()
        self._rules: dict[tuple[str, int], DeadlineRules] = {}

    # ------------------------------------------------------------------ reading
    def get(self, case_no: str) -> CaseRecord:
        with self.factory() as s:
            return CaseRecord.of(self._load(s, case_no))

    def trail(self, case_no: str) -> list[EventRecord]:
        with self.factory() as s:
            case = self._load(s, case_no)
            rows = s.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
            )
            return [EventRecord.of(r) for r in rows]

    def rules(self, code: str, version: int) -> DeadlineRules:
        key = (code, version)
        if key not in self._rules:
            self._rules[key] = deadline_rules(self.catalog.version(code, version))
        return self._rules[key]

    # ------------------------------------------------------------------ commands
    def open_case(
        self,
        new: NewCase | Mapping[str, Any],
        actor: Actor,
        at: datetime,
        key: str,
        owe: Owing | None = None,
    ) -> ActResult:
        """上报: record a new case under the item version in force on its local date
        (``owe``: the run it needs, written in the same transaction; ledger/owed.py)."""
        if not isinstance(new, NewCase):
            try:
                new = NewCase.model_validate(new)
            except ValidationError as exc:
                raise first_error(exc) from exc
        at, key = _aware(at), _key(key)
        return self._retrying(lambda s: _owing(s, self._open(s, new, actor, at, key), owe), key)

    def act(
        self,
        case_no: str,
        kind: EventKind,
        actor: Actor,
        at: datetime,
        key: str,
        payload: Mapping[str, Any] | None = None,
        *,
        live: bool = False,
        owe: Owing | None = None,
    ) -> ActResult:
        """Fire ``kind`` on the case; see the module docstring for the guarantees.

        ``live``: ``at`` is the caller's clock reading as the answer arrived (the gateway),
        not a time to record as given: if a concurrent writer recorded a later event
        meanwhile, this answer is taken as of that event (and the transition table judges
        it: 409 if the case has moved on), instead of being refused as out of order."""
        if kind == EventKind.CREATED:
            raise InvalidInput("use open_case to create a case", field="kind")
        data = parse_payload(kind, dict(payload or {}))
        at, key = _aware(at), _key(key)
        return self._retrying(
            lambda s: _owing(s, self._act(s, case_no, kind, actor, at, key, data, live), owe),
            key,
        )

    def act_all(
        self, commands: Sequence[tuple[str, EventKind, str]], actor: Actor, at: datetime
    ) -> list[ActResult]:
        """Fire several payload-free commands ``(case_no, kind, key)`` by one actor at one
        moment in one transaction: for bulk jobs (a recount of thousands of cases) that would
        otherwise pay a commit per case. Each is checked and recorded exactly as :meth:`act`
        does; if a concurrent writer gets in the way, they are done one by one with ``act``."""
        at = _aware(at)
        try:
            with transaction(self.factory) as s:
                return [
                    self._act(s, no, kind, actor, at, _key(key), parse_payload(kind, {}))
                    for no, kind, key in commands
                ]
        except (IntegrityError, StaleDataError):
            return [self.act(no, kind, actor, at, key) for no, kind, key in commands]

    def _retrying(self, work: Callable[[Session], ActResult], key: str) -> ActResult:
        for attempt in range(MAX_ATTEMPTS):
            try:
                with transaction(self.factory) as s:
                    return work(s)
            except (IntegrityError, StaleDataError) as exc:
                # A concurrent writer got there first (same key, or the same case): look again.
                if attempt == MAX_ATTEMPTS - 1:
                    raise ConcurrentUpdate(f"gave up after {MAX_ATTEMPTS} attempts: {exc}") from exc
            except IdempotencyConflict:
                raise
            except GridgovError:
                # Refused (the case moved on, the source id is taken…) — but if a concurrent
                # command with the same key committed after our look for the key, the refusal
                # is that command's own effect: look again, and replay it like any repeat.
                with self.factory() as s:
                    if attempt == MAX_ATTEMPTS - 1 or self._existing(s, key) is None:
                        raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ internals
    def _load(self, s: Session, case_no: str) -> Case:
        case = s.scalar(select(Case).where(Case.case_no == case_no))
        if case is None:
            raise NotFound(f"no case {case_no!r}", field="case_no")
        timers.load(s, case)  # where the sweep has taken its ladder since
        return case

    def _replay(
        self, s: Session, event: CaseEvent, kind: EventKind, case_no: str | None
    ) -> ActResult:
        case = s.get(Case, event.case_id)
        assert case is not None
        if event.kind != kind.value or (case_no is not None and case.case_no != case_no):
            raise IdempotencyConflict(
                f"idempotency key {event.idempotency_key!r} was used for {event.kind} on "
                f"{case.case_no}",
                field="idempotency_key",
            )
        return ActResult(CaseRecord.of(case), EventRecord.of(event), replayed=True)

    def _existing(self, s: Session, key: str) -> CaseEvent | None:
        return s.scalar(select(CaseEvent).where(CaseEvent.idempotency_key == key))

    def _open(self, s: Session, new: NewCase, actor: Actor, at: datetime, key: str) -> ActResult:
        if (ev := self._existing(s, key)) is not None:
            result = self._replay(s, ev, EventKind.CREATED, None)
            if (
                result.case.item_code != new.item_code
                or result.case.community_code != new.community
            ):
                raise IdempotencyConflict(
                    f"idempotency key {key!r} opened a different case ({result.case.case_no})",
                    field="idempotency_key",
                )
            return result
        local_day = at.astimezone(self.calendar.tz).date()
        item = self.catalog.item_on(new.item_code, local_day)
        street = self._check_place(new)
        if new.source not in item.sources:
            raise InvalidInput(
                f"item {item.code} is not reported by {new.source.value}; allowed: "
                + ", ".join(x.value for x in item.sources),
                field="source",
            )
        if (
            new.source_system
            and new.source_id
            and s.scalar(
                select(Case.id).where(
                    Case.source_system == new.source_system, Case.source_id == new.source_id
                )
            )
        ):
            raise InvalidInput(
                f"{new.source_system} case {new.source_id} is already in the ledger",
                field="source_id",
            )
        decide(CaseView(None, item.tier, new.community, COMMUNITY_UNIT), EventKind.CREATED, actor)
        rules = self.rules(item.code, item.version)
        case = Case(
            case_no=self._next_case_no(s, local_day.strftime("%Y%m%d")),
            item_code=item.code,
            item_version=item.version,
            item_name=item.name_zh,
            tier=int(item.tier),
            category=item.category,
            status=CaseStatus.REPORTED.value,
            source=new.source.value,
            reporter=new.reporter,
            description=new.description,
            media=list(new.media),
            street_code=street,
            community_code=new.community,
            grid_code=new.grid,
            building=new.building,
            lat=new.lat,
            lon=new.lon,
            lead_department=item.lead_department,
            assisting=list(item.assisting_departments),
            assignee=COMMUNITY_UNIT,
            opened_at=at,
            updated_at=at,
            source_system=new.source_system,
            source_id=new.source_id,
            ladder_done=0,
            overdue=False,
            rework_count=0,
            return_count=0,
            extension_count=0,
            extension_pending=False,
            repeat_count=1,
            deadline_source="catalog",
        )
        self._start_work(case, rules, at)
        self._set_clock(case, rules)
        s.add(case)
        s.flush()
        ev = self._append(
            s,
            case,
            EventKind.CREATED,
            actor,
            at,
            None,
            key,
            {"item_version": item.version, "source": new.source.value},
        )
        return ActResult(CaseRecord.of(case), EventRecord.of(ev), replayed=False)

    def _check_place(self, new: NewCase) -> str:
        problem = place_problem(self.catalog.territory, new.community, new.grid)
        if problem is not None:
            raise InvalidInput(problem[1], field=problem[0])
        return self.catalog.street_of(new.community)

    def _next_case_no(self, s: Session, day: str) -> str:
        return allocate_case_numbers(s, day, 1)[0]

    def _act(
        self,
        s: Session,
        case_no: str,
        kind: EventKind,
        actor: Actor,
        at: datetime,
        key: str,
        payload: dict[str, Any],
        live: bool = False,
    ) -> ActResult:
        if (ev := self._existing(s, key)) is not None:
            return self._replay(s, ev, kind, case_no)
        case = self._load(s, case_no)
        last_at = s.scalar(select(func.max(CaseEvent.at)).where(CaseEvent.case_id == case.id))
        if live and last_at is not None:
            at = max(at, _aware(last_at))
        if last_at is not None and at < last_at:
            raise InvalidInput(
                f"at {at.isoformat()} is before the case's last event ({last_at.isoformat()})",
                field="at",
            )
        before = CaseStatus(case.status)
        view = CaseView(
            before,
            Tier(case.tier),
            case.community_code,
            case.assignee,
            tuple(case.assisting),
            case.extension_pending,
            case.arrived_at is not None,
        )
        target = decide(view, kind, actor)
        assert target is not None
        rules = self.rules(case.item_code, case.item_version)
        payload = self._effects(case, kind, at, payload, rules)
        case.status = target.value
        case.updated_at = at
        self._set_clock(case, rules)
        ev = self._append(s, case, kind, actor, at, before, key, payload)
        s.flush()
        return ActResult(CaseRecord.of(case), EventRecord.of(ev), replayed=False)

    def _start_work(self, case: Case, rules: DeadlineRules, at: datetime) -> None:
        start_work(case, rules, at, self.calendar)

    def _department(self, code: str, field: str) -> str:
        if code not in self.catalog.departments:
            raise InvalidInput(f"unknown department {code!r}", field=field)
        return code

    def _effects(
        self,
        case: Case,
        kind: EventKind,
        at: datetime,
        payload: dict[str, Any],
        rules: DeadlineRules,
    ) -> dict[str, Any]:
        """Change the case row for ``kind``; return the payload to record."""
        cal = self.calendar
        K = EventKind
        if kind == K.DISPATCHED:
            default = path(case.tier).default_handler(case.lead_department)
            case.assignee = self._department(
                payload.get("department", default), "payload.department"
            )
            payload["department"] = case.assignee
            case.dispatched_at = at
            self._start_work(case, rules, at)
        elif kind == K.ACKNOWLEDGED:
            case.acknowledged_at = at
        elif kind == K.DEADLINE_RECOUNTED:
            payload.update(recount(case, rules, cal))
        elif kind == K.RETURNED:
            case.return_count += 1
            case.acknowledged_at = None
            payload["department"] = case.assignee
            self._start_work(case, rules, at)  # the dispatcher's re-route window
        elif kind == K.REROUTED:
            dept = self._department(payload["department"], "payload.department")
            if dept == case.assignee:
                raise InvalidInput(f"case is already with {dept}", field="payload.department")
            payload["from_department"] = case.assignee
            case.assignee = dept
            case.arrived_at = None
            self._start_work(case, rules, at)
        elif kind == K.RETURN_REFUSED:
            payload["department"] = case.assignee
            self._start_work(case, rules, at)  # the department's windows run again
        elif kind == K.ARRIVED:
            case.arrived_at = at
        elif kind == K.EXTENSION_REQUESTED:
            self._extensible(case)
            case.extension_pending = True
        elif kind == K.EXTENSION_GRANTED:
            old = self._extensible(case)
            amount, unit = self._pending_extension(case, payload)
            case.extension_pending = False
            case.extension_count += 1
            case.handle_due = cal.deadline(old, Duration(amount, TimeUnit(unit)))
            payload.update(
                amount=amount,
                unit=unit,
                handle_due_before=old.isoformat(),
                handle_due=case.handle_due.isoformat(),
            )
        elif kind == K.EXTENSION_REFUSED:
            case.extension_pending = False
        elif kind == K.HANDLED:
            case.handled_at = at
            case.review_due = due_after(cal, at, rules.review)
        elif kind == K.REVIEW_STARTED:
            if path(case.tier).spot_check:
                case.spot_check = True
        elif kind in (K.REVIEW_FAILED, K.REOPENED):
            case.rework_count += 1
            case.handled_at = None
            case.clock_start = at
            case.ladder_done, case.supervision_level = 0, None
            case.handle_due = due_after(cal, at, rules.handle)
            payload["handle_due"] = case.handle_due.isoformat() if case.handle_due else None
        elif kind == K.RATED:
            case.rating = payload["rating"]
        elif kind == K.CLOSED:
            spared = path(case.tier).spot_check_on_close(CaseStatus(case.status))
            if spared is not None:
                case.spot_check = spared
            case.closed_at = at
        return payload

    @staticmethod
    def _extensible(case: Case) -> datetime:
        """The handling deadline an extension (延期) would move; a case without one has
        nothing to extend."""
        if case.handle_due is None:
            raise InvalidInput(
                f"case {case.case_no} has no handling deadline (its item has none), so there "
                "is nothing to extend",
                field="kind",
            )
        return case.handle_due

    def _pending_extension(self, case: Case, payload: dict[str, Any]) -> tuple[float, str]:
        """The granted amount: as given, else as requested in the pending request."""
        if "amount" in payload or "unit" in payload:
            try:
                amount, unit = float(payload["amount"]), TimeUnit(payload["unit"]).value
            except (KeyError, ValueError) as exc:
                raise InvalidInput(
                    "an extension grant needs amount > 0 and a valid unit", field="payload.amount"
                ) from exc
            if not 0 < amount <= 1000:
                raise InvalidInput("amount must be in (0, 1000]", field="payload.amount")
            return amount, unit
        session = Session.object_session(case)
        assert session is not None
        req = session.scalar(
            select(CaseEvent)
            .where(
                CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.EXTENSION_REQUESTED.value
            )
            .order_by(CaseEvent.seq.desc())
            .limit(1)
        )
        assert req is not None
        return float(req.payload["amount"]), str(req.payload["unit"])

    def _set_clock(self, case: Case, rules: DeadlineRules) -> None:
        set_clock(case, rules, self.calendar, self.ladder, case.updated_at)

    def _append(
        self,
        s: Session,
        case: Case,
        kind: EventKind,
        actor: Actor,
        at: datetime,
        before: CaseStatus | None,
        key: str,
        payload: dict[str, Any],
    ) -> CaseEvent:
        seq = (
            s.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id)) or 0
        ) + 1
        ev = CaseEvent(
            case_id=case.id,
            seq=seq,
            kind=kind.value,
            actor=actor.name,
            role=actor.role.value,
            department=actor.department,
            community=actor.community,
            at=at,
            recorded_at=datetime.now(UTC),
            from_status=before.value if before else None,
            to_status=case.status,
            payload=payload,
            idempotency_key=key,
        )
        s.add(ev)
        s.flush()
        timers.keep(s, case)  # the case's 督办 timer follows its clock fields
        link_event(s.connection(), ev)  # its hash, in the same transaction
        self._queue_notices(s, case, kind, ev)
        return ev

    def _queue_notices(self, s: Session, case: Case, kind: EventKind, ev: CaseEvent) -> None:
        """Outbox: notices are rows in the same transaction as the event they announce."""
        for n in notices(facts(case), kind):
            s.add(
                Notification(
                    case_id=case.id,
                    kind=n.kind,
                    recipient=n.recipient,
                    body=n.body,
                    status="pending",
                    attempts=0,
                    created_at=ev.at,
                    idempotency_key=keys.notice(ev.idempotency_key, n.kind, n.recipient),
                )
            )


def allocate_case_numbers(s: Session, day: str, count: int) -> list[str]:
    """Reserve ``count`` consecutive case numbers of local day ``day`` (``YYYYMMDD``).

    One row per day holds the last number; bulk intake and import reserve a block at once.
    A concurrent first reservation of the day raises IntegrityError: the caller retries."""
    if count < 1:
        return []
    last = s.scalar(
        update(CaseCounter)
        .where(CaseCounter.day == day)
        .values(last=CaseCounter.last + count)
        .returning(CaseCounter.last)
    )
    if last is None:
        s.add(CaseCounter(day=day, last=count))
        s.flush()
        last = count
    return _numbers(day, last, count)


def allocate_case_number_blocks(s: Session, counts: Mapping[str, int]) -> dict[str, list[str]]:
    """:func:`allocate_case_numbers` for many days at once (bulk writers): a chunk of an
    export not in time order spans hundreds of days, and a statement per day was most of
    its cost (docs/exchange.md, "Speed"). Four statements whatever the number of days: read
    which counters exist, add to them (in day order, so concurrent writers lock rows in one
    order), create the missing ones, read the new last numbers — all in the caller's
    transaction, which holds the counters it added to until it ends. A concurrent first
    reservation of a day raises IntegrityError: the caller retries."""
    want = {day: n for day, n in sorted(counts.items()) if n > 0}
    if not want:
        return {}
    days = list(want)
    have: set[str] = set()
    for i in range(0, len(days), _DAYS_PER_STATEMENT):
        have.update(
            s.scalars(
                select(CaseCounter.day).where(
                    CaseCounter.day.in_(days[i : i + _DAYS_PER_STATEMENT])
                )
            )
        )
    conn = s.connection()
    grow = [{"b_day": d, "b_n": want[d]} for d in days if d in have]
    if grow:
        conn.execute(
            update(CaseCounter)
            .where(CaseCounter.day == bindparam("b_day"))
            .values(last=CaseCounter.last + bindparam("b_n")),
            grow,
        )
    fresh = [{"day": d, "last": want[d]} for d in days if d not in have]
    if fresh:
        conn.execute(insert(CaseCounter), fresh)
    last: dict[str, int] = {}
    for i in range(0, len(days), _DAYS_PER_STATEMENT):
        batch = days[i : i + _DAYS_PER_STATEMENT]
        q = select(CaseCounter.day, CaseCounter.last).where(CaseCounter.day.in_(batch))
        last.update((d, n) for d, n in conn.execute(q))
    return {day: _numbers(day, last[day], n) for day, n in want.items()}


_DAYS_PER_STATEMENT = 5_000  # ids per IN (…) list: well under every driver's parameter limit


def _numbers(day: str, last: int, count: int) -> list[str]:
    """The case numbers of the block of ``count`` ending at ``last`` (``C20261123-000123``)."""
    return [f"C{day}-{n:06d}" for n in range(last - count + 1, last + 1)]


def _owing(s: Session, result: ActResult, owe: Owing | None) -> ActResult:
    """The run a recorded command needs, in the command's transaction (a replay adds it when
    the first recording came through a path that owed nothing, e.g. the dispatcher's queue)."""
    if owe is not None:
        ev = result.event
        add_owed(s, result.case.id, result.case.case_no, ev.idempotency_key, owe, ev.at)
    return result


def facts(case: Case | CaseRecord) -> CaseFacts:
    return CaseFacts(
        case_no=case.case_no,
        status=CaseStatus(case.status),
        tier=Tier(case.tier),
        source=case.source,
        assignee=case.assignee,
        community=case.community_code,
        assisting=tuple(case.assisting),
        reporter=case.reporter,
        rating=case.rating,
    )


def actor_for(role: Role, name: str, unit: str | None = None) -> Actor:
    """Convenience: an actor whose unit is a department or a community, by role."""
    if role == Role.DEPARTMENT:
        return Actor(role, name, department=unit)
    if role == Role.COMMUNITY:
        return Actor(role, name, community=unit)
    return Actor(role, name)
