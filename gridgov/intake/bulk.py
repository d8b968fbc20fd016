"""Open cases from machine-found events in bulk: validate, drop what was seen, deduplicate,
then write cases, their events, outbox notices and the intake record with executemany.

Per chunk (one transaction): rows whose (source, event_id) is already in ``intake_events`` are
skipped, so re-ingesting a file changes nothing; the rest are matched to open cases by
``dedupe.Deduper`` (repeats raise ``cases.repeat_count``), and new cases get a block of case
numbers (``allocate_case_number_blocks``) and the same fields ``CaseBook.open_case`` and the
automatic dispatch would give them — the clock logic is CaseBook's own — with events
``created`` (seq 1) and, for tier 2/3, ``dispatched`` (seq 2, key as ``progress.advance``
derives it), and ``next_sweep_at`` set so the 督办 sweep sees them. Tier-1 cases wait for the
grid worker, who gets a ``machine_event`` notice on the phone (DOMAIN.md).
"""

from __future__ import annotations

import gc
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from gridgov.domain import keys
from gridgov.domain.deadlines import DeadlineRules
from gridgov.domain.enums import CaseStatus, Tier
from gridgov.domain.lifecycle import COMMUNITY_UNIT, Actor, EventKind
from gridgov.domain.routing import CaseFacts, notices
from gridgov.domain.tiers import path
from gridgov.intake.dedupe import Deduper, DedupeRule, dedupe_key
from gridgov.intake.machine import Format, MachineEvent, RowChecker, RowError, read_rows
from gridgov.item_catalog.models import Item
from gridgov.ledger import timers
from gridgov.ledger.casebook import CaseBook, allocate_case_number_blocks
from gridgov.ledger.chain import link
from gridgov.ledger.clocks import set_clock, start_work
from gridgov.ledger.fastrows import BulkStatement
from gridgov.ledger.models import Case
from gridgov.ledger.risk_models import IntakeEvent
from gridgov.ledger.rows import (
    CASE_COLUMNS,
    CASES,
    EVENT_COLUMNS,
    EVENTS,
    NOTICE_COLUMNS,
    NOTICES,
    case_row,
    event_row,
    json_text,
    notice_row,
    timer_of_case_row,
)

CHUNK = 5_000
ATTEMPTS = 3
LOCKED_PAUSE = 1.0  # seconds, growing per attempt
Progress = Callable[[int], None]
Vet = Callable[[MachineEvent], tuple[str, str] | None]  # (field, reason) refuses the row
NOT_OBJECT = "a row must be an object"

INTAKE_COLUMNS = (
    "source",
    "event_id",
    "device",
    "event_type",
    "item_code",
    "at",
    "received_at",
    "case_id",
    "repeat",
    "confidence",
)


@dataclass
class IngestReport:
    """What an ingest did. ``errors`` name the line and field of every refused row."""

    rows: int = 0
    opened: int = 0
    repeats: int = 0  # merged into an open case (raising its repeat count)
    already: int = 0  # seen before (same source and event id): skipped
    errors: list[RowError] = field(default_factory=list)
    case_nos: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.opened + self.repeats

    def add(self, other: IngestReport) -> None:
        self.rows += other.rows
        self.opened += other.opened
        self.repeats += other.repeats
        self.already += other.already
        self.errors += other.errors
        self.case_nos += other.case_nos


class _Draft:
    """The case fields the clock rules read and write (``ledger.clocks.ClockFields``)."""

    def __init__(self, status: CaseStatus, tier: Tier) -> None:
        self.status = status.value
        self.tier = int(tier)
        self.handled_at: datetime | None = None
        self.review_due: datetime | None = None
        self.clock_start: datetime | None = None
        self.clock_kind: str | None = None
        self.clock_unit: str | None = None
        self.clock_due: datetime | None = None
        self.next_sweep_at: datetime | None = None
        self.acknowledge_due: datetime | None = None
        self.arrive_due: datetime | None = None
        self.handle_due: datetime | None = None
        self.ladder_done = 0
        self.supervision_level: str | None = None
        self.provisional_years: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What every new case of one item version shares."""

    head: tuple[str, int, str, int, str]  # item_code, item_version, item_name, tier, category
    tier: Tier
    dispatch: bool
    status: CaseStatus
    assignee: str
    lead: str
    assisting: tuple[str, ...]
    assisting_json: str
    dispatched_json: str  # the dispatch event's payload (the same for every case of the item)
    rules: DeadlineRules


@dataclass
class _NewCase:
    ev: MachineEvent
    key: str
    repeats: int = 1


class BulkIntake:
    """Ingests machine events into the ledger of ``book``; see the module docstring.

    ``by``: who submits the batch (the gateway's key), written as the actor and role of each
    ``created`` event; by default the device (``<source>:<device>``) with role ``system``.
    ``vet(event)``: the submitter's own rules on a checked row (its area, how far its times
    may be off); a (field, reason) refuses the row like any other bad row."""

    def __init__(
        self,
        book: CaseBook,
        rule: DedupeRule | None = None,
        *,
        by: Actor | None = None,
        vet: Vet | None = None,
    ) -> None:
        self.book = book
        self.rule = rule or DedupeRule()
        self.by = by
        self.vet = vet
        self.checker = RowChecker(book.catalog, book.calendar.tz)
        self._plans: dict[tuple[str, int], _Plan] = {}

    # ------------------------------------------------------------------ entry points
    def ingest_rows(
        self,
        rows: Iterable[tuple[int, dict[str, Any] | str]],
        *,
        received_at: datetime | None = None,
        chunk: int = CHUNK,
        progress: Progress | None = None,
    ) -> IngestReport:
        report = IngestReport()
        received = received_at or datetime.now(UTC)
        # A chunk allocates ~20 acyclic objects per event: without this the cyclic GC
        # re-walks them every 700 allocations (a fifth of the intake's CPU).
        collecting = gc.isenabled()
        gc.disable()
        try:
            for part in _chunks(rows, chunk):
                good: list[MachineEvent] = []
                for line, raw in part:
                    checked = self.checker.check(line, raw)
                    if isinstance(checked, list):
                        report.errors += checked
                    elif self.vet is not None and (refused := self.vet(checked)) is not None:
                        report.errors.append(RowError(line, *refused))
                    else:
                        good.append(checked)
                done = self._write_retrying(good, received)
                done.rows = len(part)
                report.add(done)
                if progress is not None:
                    progress(len(part))
        finally:
            if collecting:
                gc.enable()
        return report

    def ingest_file(self, path: Path, fmt: Format | None = None, **kw: Any) -> IngestReport:
        return self.ingest_rows(read_rows(path, fmt), **kw)

    # ------------------------------------------------------------------ writing
    def _write_retrying(self, events: list[MachineEvent], received: datetime) -> IngestReport:
        for attempt in range(ATTEMPTS):
            try:
                with self.book.factory() as s, s.begin():
                    return self._write(s, events, received)
            except IntegrityError:  # a concurrent ingest wrote some of these: look again
                if attempt == ATTEMPTS - 1:
                    raise
            except OperationalError as exc:
                # SQLite gives up after busy_timeout when another writer holds the file for
                # long (a big import): the chunk wrote nothing, so it is safe to try again.
                if "database is locked" not in str(exc) or attempt == ATTEMPTS - 1:
                    raise
                time.sleep(LOCKED_PAUSE * (attempt + 1))
        raise AssertionError("unreachable")

    def _write(self, s: Session, events: list[MachineEvent], received: datetime) -> IngestReport:
        report = IngestReport()
        fresh = self._unseen(s.connection(), events, report)
        if not fresh:
            return report
        fresh.sort(key=lambda e: e.at)
        keys = [dedupe_key(e, self.rule) for e in fresh]
        deduper: Deduper[tuple[str, int]] = Deduper(self.rule)
        for key, case_id, opened in self._open_cases(s.connection(), keys, fresh):
            deduper.known(key, opened, ("old", case_id))
        new: list[_NewCase] = []
        placed: list[tuple[MachineEvent, tuple[str, int]]] = []
        old_repeats: Counter[int] = Counter()
        for ev, key in zip(fresh, keys, strict=True):
            ref = deduper.match(key, ev.at)
            if ref is None:
                ref = ("new", len(new))
                new.append(_NewCase(ev, key))
                deduper.known(key, ev.at, ref)
            elif ref[0] == "new":
                new[ref[1]].repeats += 1
            else:
                old_repeats[ref[1]] += 1
            placed.append((ev, ref))
        ids, numbers = self._reserve(s, new)
        times: dict[Any, Any] = {}  # each event's moment is written to several tables
        self._insert_cases(s.connection(), new, ids, numbers, times)
        conn = s.connection()
        if old_repeats:
            conn.execute(
                text("UPDATE cases SET repeat_count = repeat_count + :n WHERE id = :id"),
                [{"n": n, "id": case_id} for case_id, n in old_repeats.items()],
            )
        intake = BulkStatement(conn, _table(IntakeEvent), INTAKE_COLUMNS, times=times)
        intake.execute(
            (
                ev.source,
                ev.event_id,
                ev.device,
                ev.event_type,
                ev.item.code,
                ev.at,
                received,
                ids[ref[1]] if ref[0] == "new" else ref[1],
                not (ref[0] == "new" and new[ref[1]].ev is ev),
                ev.confidence,
            )
            for ev, ref in placed
        )
        report.opened = len(new)
        report.repeats = len(placed) - len(new)
        report.case_nos = numbers
        return report

    def _unseen(
        self, conn: Connection, events: list[MachineEvent], report: IngestReport
    ) -> list[MachineEvent]:
        """Drop events whose (source, id) was ingested before, or twice in this chunk."""
        firsts: dict[tuple[str, str], MachineEvent] = {}
        for ev in events:
            firsts.setdefault((ev.source, ev.event_id), ev)
        seen: set[tuple[str, str]] = set()
        by_source: dict[str, list[str]] = defaultdict(list)
        for src, eid in firsts:
            by_source[src].append(eid)
        for src, ids in by_source.items():
            for i in range(0, len(ids), 1000):  # one seek per id in uq (source, event_id)
                q = select(IntakeEvent.event_id).where(
                    IntakeEvent.source == src, IntakeEvent.event_id.in_(ids[i : i + 1000])
                )
                seen.update((src, eid) for eid in conn.execute(q).scalars())
        report.already = len(events) - len(firsts) + len(seen)
        return [ev for pair, ev in firsts.items() if pair not in seen]

    def _open_cases(
        self, conn: Connection, keys: list[str], events: list[MachineEvent]
    ) -> Iterator[tuple[str, int, datetime]]:
        """Open cases that events with these keys may repeat (index dedupe_key, opened_at)."""
        lo = events[0].at - self.rule.window
        hi = events[-1].at + self.rule.window
        distinct = sorted(set(keys))
        closed = (CaseStatus.CLOSED.value, CaseStatus.CANCELLED.value)
        for i in range(0, len(distinct), 1000):
            q = select(Case.dedupe_key, Case.id, Case.opened_at).where(
                Case.dedupe_key.in_(distinct[i : i + 1000]),
                Case.opened_at >= lo,
                Case.opened_at <= hi,
                Case.status.not_in(closed),
            )
            for key, case_id, opened in conn.execute(q):
                if key is not None:
                    yield key, case_id, opened

    def _reserve(self, s: Session, new: list[_NewCase]) -> tuple[list[int], list[str]]:
        """Case numbers per local day (a block each) and row ids for the new cases."""
        if not new:
            return [], []
        tz = self.book.calendar.tz
        by_day: dict[str, list[int]] = defaultdict(list)
        for i, nc in enumerate(new):
            by_day[nc.ev.at.astimezone(tz).strftime("%Y%m%d")].append(i)
        numbers = [""] * len(new)
        blocks = allocate_case_number_blocks(s, {day: len(idx) for day, idx in by_day.items()})
        for day, idx in by_day.items():
            for i, no in zip(idx, blocks[day], strict=True):
                numbers[i] = no
        conn = s.connection()
        if conn.dialect.name == "postgresql":
            ids = list(
                conn.execute(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('cases', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": len(new)},
                ).scalars()
            )
        else:  # SQLite: the counter update above holds the write lock, so max(id) is ours
            top = conn.execute(select(func.coalesce(func.max(Case.id), 0))).scalar_one()
            ids = list(range(top + 1, top + 1 + len(new)))
        return ids, numbers

    def _plan(self, item: Item) -> _Plan:
        key = (item.code, item.version)
        plan = self._plans.get(key)
        if plan is None:
            tier = Tier(item.tier)
            route = path(tier)  # 社区发令 at once, as routing.follow_up does
            plan = self._plans[key] = _Plan(
                head=(item.code, item.version, item.name_zh, int(tier), item.category),
                tier=tier,
                dispatch=route.dispatched_at_once,
                status=route.status_after_report(),
                assignee=route.default_handler(item.lead_department),
                lead=item.lead_department,
                assisting=tuple(item.assisting_departments),
                assisting_json=json_text(list(item.assisting_departments)),
                dispatched_json=json_text(
                    {"department": route.default_handler(item.lead_department)}
                ),
                rules=self.book.rules(*key),
            )
        return plan

    def _insert_cases(
        self,
        conn: Connection,
        new: list[_NewCase],
        ids: list[int],
        numbers: list[str],
        times: dict[Any, Any],
    ) -> None:
        if not new:
            return
        book = self.book
        cases = BulkStatement(conn, CASES, CASE_COLUMNS, raw=("media", "assisting"), times=times)
        events = BulkStatement(
            conn, EVENTS, EVENT_COLUMNS, raw=("payload", "recorded_at"), times=times
        )
        notes = BulkStatement(conn, NOTICES, NOTICE_COLUMNS, raw=("body",), times=times)
        recorded = events.value("recorded_at", datetime.now(UTC))
        case_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        note_rows: list[tuple[Any, ...]] = []
        reported = CaseStatus.REPORTED.value
        for nc, case_id, case_no in zip(new, ids, numbers, strict=True):
            ev = nc.ev
            p = self._plan(ev.item)
            at, source = ev.at, ev.source
            draft = _Draft(p.status, p.tier)
            start_work(draft, p.rules, at, book.calendar)
            set_clock(draft, p.rules, book.calendar, book.ladder)
            reporter = (f"{source}:{ev.device}" if ev.device else source)[:120]
            code, version, name, tier, category = p.head
            case_rows.append(
                case_row(
                    {
                        "id": case_id,
                        "case_no": case_no,
                        "item_code": code,
                        "item_version": version,
                        "item_name": name,
                        "tier": tier,
                        "category": category,
                        "status": p.status.value,
                        "source": source,
                        "reporter": reporter,
                        "description": ev.description,
                        "media": json_text([ev.media] if ev.media else []),
                        "street_code": ev.street,
                        "community_code": ev.community,
                        "grid_code": ev.grid,
                        "building": ev.building,
                        "lat": ev.lat,
                        "lon": ev.lon,
                        "lead_department": p.lead,
                        "assisting": p.assisting_json,
                        "assignee": p.assignee,
                        "opened_at": at,
                        "dispatched_at": at if p.dispatch else None,
                        "updated_at": at,
                        "acknowledge_due": draft.acknowledge_due,
                        "arrive_due": draft.arrive_due,
                        "handle_due": draft.handle_due,
                        "clock_kind": draft.clock_kind,
                        "clock_start": draft.clock_start,
                        "clock_due": draft.clock_due,
                        "clock_unit": draft.clock_unit,
                        "ladder_done": draft.ladder_done,
                        "next_sweep_at": draft.next_sweep_at,
                        "repeat_count": nc.repeats,
                        "dedupe_key": nc.key,
                        "provisional_years": draft.provisional_years,
                        "source_system": f"intake:{source}",
                        "source_id": ev.event_id,
                        # inserted, then dispatched: as the case book's two writes leave it
                        "row_version": 2 if p.dispatch else 1,
                    }
                )
            )
            created_key = keys.intake(source, ev.event_id)
            payload = json_text(
                {
                    "item_version": version,
                    "source": source,
                    "event_id": ev.event_id,
                    "event_type": ev.event_type,
                }
            )
            actor, role = (self.by.name, self.by.role.value) if self.by else (reporter, "system")
            event_rows.append(
                event_row(
                    case_id,
                    1,
                    "created",
                    actor,
                    role,
                    None,
                    None,
                    at,
                    recorded,
                    None,
                    reported,
                    payload,
                    created_key,
                )
            )
            facts = CaseFacts(
                case_no, CaseStatus.REPORTED, p.tier, source, COMMUNITY_UNIT, ev.community
            )
            steps = [(EventKind.CREATED, facts, created_key)]
            if p.dispatch:
                key = keys.follow_up(case_no, 1, EventKind.DISPATCHED)  # as progress.advance
                body = p.dispatched_json
                event_rows.append(
                    event_row(
                        case_id,
                        2,
                        "dispatched",
                        "gridgov",
                        "system",
                        None,
                        None,
                        at,
                        recorded,
                        reported,
                        p.status.value,
                        body,
                        key,
                    )
                )
                facts = CaseFacts(
                    case_no,
                    p.status,
                    p.tier,
                    source,
                    p.assignee,
                    ev.community,
                    p.assisting,
                    reporter,
                )
                steps.append((EventKind.DISPATCHED, facts, key))
            else:  # the grid worker's phone: go and fix it (DOMAIN.md, machine-found events)
                push = {"case_no": case_no, "item": code, "building": ev.building}
                note_rows.append(
                    _note(case_id, "machine_event", f"grid:{ev.grid}", push, at, created_key)
                )
            for kind, facts, key in steps:
                note_rows += [
                    _note(case_id, n.kind, n.recipient, n.body, at, key)
                    for n in notices(facts, kind)
                ]
        cases.execute(case_rows)
        timers.insert_rows(conn, map(timer_of_case_row, case_rows))  # their 督办 timers
        events.execute(event_rows)
        link(conn, event_rows)  # each event's hash on its case's chain (ledger/chain.py)
        notes.execute(note_rows)


def _note(
    case_id: int, kind: str, recipient: str, body: dict[str, Any], at: datetime, event_key: str
) -> tuple[Any, ...]:
    """An outbox row, keyed by the event it announces."""
    return notice_row(
        case_id, kind, recipient, json_text(body), keys.notice(event_key, kind, recipient), at
    )


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _chunks(
    rows: Iterable[tuple[int, dict[str, Any] | str]], size: int
) -> Iterator[list[tuple[int, dict[str, Any] | str]]]:
    part: list[tuple[int, dict[str, Any] | str]] = []
    for row in rows:
        part.append(row)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def ingest_events(
    book: CaseBook,
    events: Iterable[Mapping[str, Any]],
    *,
    window_minutes: float = 30,
    received_at: datetime | None = None,
    by: Actor | None = None,
    vet: Vet | None = None,
    lines: Iterable[int] | None = None,
) -> IngestReport:
    """The gateway's entry point: a batch of event objects (JSON bodies), as a list.

    Rows are numbered from 1 in the order given, or by ``lines`` (``RowError.line``); a str
    in place of an object is the reason the row could not be read. Synchronous: call it from
    async code with ``asyncio.to_thread``. Safe to repeat with the same events."""
    rule = DedupeRule(window=timedelta(minutes=window_minutes))
    intake = BulkIntake(book, rule, by=by, vet=vet)
    numbered = enumerate(events, 1) if lines is None else zip(lines, events, strict=True)
    rows = (
        (n, dict(e) if isinstance(e, Mapping) else e if isinstance(e, str) else NOT_OBJECT)
        for n, e in numbered
    )
    return intake.ingest_rows(rows, received_at=received_at)


def opened_by(book: CaseBook, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Case numbers of the cases these rows opened (not the repeats), e.g. after a flow run."""
    ids = [str(r["event_id"]) for r in rows if r.get("event_id")]
    out: list[str] = []
    with book.engine.connect() as conn:
        for i in range(0, len(ids), 1000):
            q = (
                select(Case.case_no)
                .join(IntakeEvent, IntakeEvent.case_id == Case.id)
                .where(IntakeEvent.event_id.in_(ids[i : i + 1000]), IntakeEvent.repeat.is_(False))
            )
            out += list(conn.execute(q).scalars())
    return out
