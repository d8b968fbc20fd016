"""督办 sweep: find what is due on the supervision ladder and act on it in bulk.

One indexed range query on the narrow timers (``timers.due <= now``, ledger/timers.py) picks
the cases, each joined by primary key to its case row, its last event number and that event's
hash; events, hashes and digested notices are inserted, the timers moved on, and a case row
updated only when what a reader sees of it changes, in one transaction per batch. The cost
grows with the number of cases due, not with all cases (on PostgreSQL the transaction's plans
are pinned to those seeks, with no JIT: :data:`_PG_PLANS`). Event keys are derived from the
case, its clock and the ladder step, so two sweeps at the same moment act once: the second
finds nothing due, or, if they race, its batch fails on the unique key and is re-read.

Speed (benchmarks/supervision.py, docs/ledger.md): a timer's ``due`` *is* the moment its next
step is due, so only the step after a fired one is computed (the 督办 step at 100 % is the
clock's own due time); rows are read and written through Core with each distinct timestamp
converted once; notices are worked out once per kind of case; event keys start with the step's
due second, so one sweep's keys land side by side in the unique indexes instead of on thousands
of random pages. Every value is converted for the driver while the rows are built (timestamps,
payload JSON and notice bodies memoised per distinct value) and the tuples are laid out in the
compiled statements' column order, so the executemany / COPY calls take them as they are; the
statements are compiled once per process (``fastrows``), not per sweep.

What is left on SQLite is mostly the B-tree work itself (at 1 %: ~4,700 pages written, i.e.
~19 MB of WAL) and the WAL checkpoint that SQLite runs at the commit that takes the WAL past
``wal_autocheckpoint`` pages (~60 ms of the 1 % sweep on the benchmark machine).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, Text, bindparam, case, func, select
from sqlalchemy.exc import IntegrityError

from gridgov.domain import keys
from gridgov.domain.calendar import WorkingCalendar
from gridgov.domain.deadlines import Clock, Ladder
from gridgov.domain.enums import CaseStatus, DeadlineKind, Tier, TimeUnit
from gridgov.domain.lifecycle import SYSTEM, Actor, EventKind
from gridgov.domain.routing import CaseFacts, notices
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.chain import GENESIS, HASHES, link
from gridgov.ledger.clocks import AFTER_HANDLING
from gridgov.ledger.fastrows import BulkStatement, run_compiled
from gridgov.ledger.models import Case, CaseEvent
from gridgov.ledger.rows import (
    EVENT_COLUMNS,
    EVENTS,
    NOTICE_COLUMNS,
    NOTICES,
    TIMERS,
    Encoder,
    event_row,
    json_text,
    notice_row,
)

SQLITE_CACHE_KIB = 65_536  # a 10 % sweep of a million cases touches ~40k pages: keep them


class SweepAction(NamedTuple):
    case_no: str
    step: str  # reminded | supervised | escalated
    clock: str
    due: datetime
    assignee: str
    community: str
    overdue: bool


def _parse_utc(value: Any) -> datetime:
    """A timestamp as the driver returns it, as an aware UTC datetime."""
    if isinstance(value, str):  # SQLite: naive UTC text
        return datetime.fromisoformat(value + "+00:00")
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_T = cast(Table, Case.__table__)
_JS: Callable[[str], str] = json.encoder.encode_basestring_ascii

_TM = TIMERS
# The review and callback clocks start at the handling; every other clock at clock_start.
_START = case(
    (_T.c.clock_kind.in_([k.value for k in AFTER_HANDLING]), _T.c.handled_at),
    else_=_T.c.clock_start,
)
# The first ``batch`` due timers, each with its case's last event number (one seek per timer
# into uq_case_events_case_seq). In a subquery of its own, so that number is looked up once
# and both read and used below (a correlated subquery repeated in the head's look-up was
# evaluated twice per timer).
_DUE_TIMERS = (
    select(
        _TM.c.case_id,
        _TM.c.limit_kind,
        _TM.c.step,
        _TM.c.due,
        select(func.max(CaseEvent.seq))
        .where(CaseEvent.case_id == _TM.c.case_id)
        .scalar_subquery()
        .label("last_seq"),
    )
    .where(_TM.c.due <= bindparam("now", None))
    .order_by(_TM.c.due, _TM.c.case_id)
    .limit(bindparam("batch", 0))
    .subquery("due_timers")
)
_D = _DUE_TIMERS.c
# A due timer and what its case's ladder step needs from the case row (read by primary key).
COLUMNS = [
    _D.case_id,
    _T.c.case_no,
    _T.c.status,
    _T.c.tier,
    _T.c.source,
    _T.c.assignee,
    _T.c.community_code,
    # As JSON text on both backends: hashable, parsed once per distinct value (psycopg would
    # parse it per row: a third of the PostgreSQL sweep's read).
    _T.c.assisting.cast(Text),
    _T.c.reporter,
    _D.limit_kind,
    _START,  # as stored: only part of the key, parsed if a step needs it
    _T.c.clock_due,
    _T.c.clock_unit,
    _D.step,
    _D.due,
    _T.c.overdue,
    _T.c.row_version,
    _D.last_seq,
    # …and its hash, the head the step's event chains to (one primary-key seek per case; the
    # trail's writer would otherwise read the heads back per 500 cases, ledger/chain.py).
    select(HASHES.c.hash)
    .where(HASHES.c.case_id == _D.case_id, HASHES.c.seq == _D.last_seq)
    .scalar_subquery(),
]
# Read with run_compiled (compiled once per process).
_DUE = (
    select(*COLUMNS)
    .select_from(_DUE_TIMERS.join(_T, _T.c.id == _D.case_id))
    .order_by(_D.due, _D.case_id)
)
UPDATE_COLUMNS = (
    "updated_at",
    "ladder_done",
    "next_sweep_at",
    "supervision_level",
    "overdue",
    "overdue_since",
    "row_version",
)
# One sweep's notices to one recipient are one outbox row: this kind, listing each case's own
# notice (kind and body as it would have been sent alone). A recipient with a single notice
# in the batch gets that notice itself.
DIGEST = "ladder_digest"


def sweep(
    book: CaseBook, now: datetime, *, actor: Actor = SYSTEM, batch: int = 20_000, attempts: int = 3
) -> list[SweepAction]:
    """Fire every ladder step due by ``now``; return what was done."""
    done: list[SweepAction] = []
    # The batch allocates tens of thousands of acyclic tuples and strings: a cyclic-GC pass
    # every 700 of them would re-walk them all (measured: a third of the sweep's CPU).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for _ in range(1000):  # batches; each pass moves every picked case past now or off
            for attempt in range(attempts):
                try:
                    actions, picked = _sweep_batch(book, now, actor, batch)
                    break
                except IntegrityError:  # a concurrent sweep took some of these: read again
                    if attempt == attempts - 1:
                        raise
            done += actions
            if picked < batch:
                break
    finally:
        if collecting:
            gc.enable()
    return done


class _NextStep:
    """When step ``n`` of a clock is due; the 100 % step is the clock's due time itself."""

    def __init__(self, cal: WorkingCalendar, ladder: Ladder) -> None:
        self.cal, self.ladder = cal, ladder
        self.fractions = [s.fraction for s in ladder.steps]
        self.memo: dict[tuple[datetime, datetime, str, int], datetime | None] = {}

    def __call__(self, start: Any, due: datetime, unit: str, n: int) -> datetime | None:
        """``start`` as read from the ledger (parsed only when it is needed)."""
        if n >= len(self.fractions):
            return None
        if self.fractions[n] == 1.0:
            return due
        key = (start, due, unit, n)
        if key not in self.memo:
            clock = Clock(DeadlineKind.HANDLE, _parse_utc(start), due, TimeUnit(unit))
            self.memo[key] = self.ladder.step_due_at(self.cal, clock, n)
        return self.memo[key]


def _payload_json(clock: str, due: str, step: int, fraction: float, assignee: str) -> str:
    """The step payload (memoised by the caller per distinct clock, due, step and handler)."""
    return json_text(
        {"clock": clock, "due": due, "step": step, "fraction": fraction, "assignee": assignee}
    )


class _Notices:
    """``routing.notices`` for a ladder step, memoised on every fact but the case number.

    The rules read the case number only to put it in the body, so one domain call per kind of
    case (status, tier, source, handler…) serves every case like it; the number is spliced
    into each body. Returns (kind, recipient, body JSON) with the step payload merged in."""

    def __init__(self) -> None:
        self.memo: dict[tuple[Any, ...], list[tuple[str, str, bool, str]]] = {}
        self.spliced: dict[tuple[Any, ...], list[tuple[str, str, str, str]]] = {}

    def __call__(
        self, kind: EventKind, row: tuple[Any, ...], case_no: str, payload: str
    ) -> list[tuple[str, str, str]]:
        return [
            (k, r, head + _JS(case_no) + tail if head else tail)
            for k, r, head, tail in self.parts(kind, row, payload)
        ]

    def parts(
        self, kind: EventKind, row: tuple[Any, ...], payload: str
    ) -> list[tuple[str, str, str, str]]:
        """(kind, recipient, head, tail): the body is ``head + case number JSON + tail``, or
        ``tail`` alone when ``head`` is empty (a body without the case number)."""
        key = (kind, row, payload)
        out = self.spliced.get(key)
        if out is None:
            out = self.spliced[key] = []
            for n_kind, recipient, numbered, rest in self._rules(kind, row):
                # {**body, **payload}: their keys are disjoint, so the JSON texts are spliced.
                tail = "".join(f", {p}" for p in (rest, payload[1:-1]) if p) + "}"
                if numbered:
                    out.append((n_kind, recipient, '{"case_no": ', tail))
                else:
                    out.append((n_kind, recipient, "", "{" + tail[2:]))
        return out

    def _rules(self, kind: EventKind, row: tuple[Any, ...]) -> list[tuple[str, str, bool, str]]:
        key = (kind, *row)
        found = self.memo.get(key)
        if found is None:
            status, tier, source, assignee, community, assisting, reporter = row
            helpers = json.loads(assisting) if isinstance(assisting, str) else assisting
            facts = CaseFacts(
                "",
                CaseStatus(status),
                Tier(tier),
                source,
                assignee,
                community,
                tuple(helpers),
                reporter,
            )
            found = self.memo[key] = [
                (
                    n.kind,
                    n.recipient,
                    "case_no" in n.body,
                    json_text({k: v for k, v in n.body.items() if k != "case_no"})[1:-1],
                )
                for n in notices(facts, kind)
            ]
        return found


def _sweep_batch(
    book: CaseBook, now: datetime, actor: Actor, batch: int
) -> tuple[list[SweepAction], int]:
    ladder = book.ladder
    steps = [(s.kind, s.kind.value, s.fraction) for s in ladder.steps]
    overdue_from = ladder.overdue_index()
    next_step = _NextStep(book.calendar, ladder)
    told = _Notices()
    now = now.astimezone(UTC)
    with book.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        elif conn.dialect.name == "postgresql":
            conn.exec_driver_sql(_PG_PLANS)
        # The driver's own tuples: no per-value result processing; the two timestamps used
        # are parsed below, the clock's start only when a step needs it.
        rows = run_compiled(conn, _DUE, {"now": Encoder.of(conn).time(now), "batch": batch})
        if not rows:
            return [], 0
        # Every value is handed over ready for the driver (``raw``), in the statement's own
        # column order, so executemany gets the tuples built here as they are.
        ins_events = BulkStatement(conn, EVENTS, EVENT_COLUMNS, raw=EVENT_COLUMNS)
        ins_notes = BulkStatement(conn, NOTICES, NOTICE_COLUMNS, raw=NOTICE_COLUMNS)
        upd = _update(conn)
        # Shared by every row: converted for the driver once.
        at_now = ins_events.value("at", now)
        recorded = ins_events.value("recorded_at", datetime.now(UTC))
        upd_now = upd.value("updated_at", now)
        flag = {False: upd.value("overdue", False), True: upd.value("overdue", True)}
        stamp: dict[Any, Any] = {None: None}  # a datetime as the UPDATE binds it
        moment: dict[Any, tuple[datetime, int]] = {}  # a stored time → (aware, epoch second)
        clock_due: dict[Any, tuple[datetime, str]] = {}  # stored due → (aware, ISO text)
        payloads: dict[tuple[Any, ...], str] = {}
        events: list[tuple[Any, ...]] = []
        told_to: dict[str, list[tuple[int, str, str, str]]] = {}  # recipient → notices
        updates: list[tuple[Any, ...]] = []
        heads: dict[tuple[int, int], str] = {}  # (case id, last seq) → its stored hash
        moved: list[tuple[Any, ...]] = []  # timers with a step ahead: (step, due, id, old step)
        climbed: list[tuple[int, int]] = []  # timers at the top of the ladder: (id, old step)
        actions: list[SweepAction] = []
        add_event, add_action = events.append, actions.append
        who, role = actor.name, actor.role.value
        for row in rows:
            case_id, case_no, status = row[0], row[1], row[2]
            facts = row[2:9]  # status … reporter: what the notice rules read
            kind, start_raw, due_raw, unit, step_no, at_raw, overdue, version, seq, head = row[9:]
            taken = step_no
            assignee, community = row[5], row[6]
            found = clock_due.get(due_raw)
            if found is None:
                due_at = _parse_utc(due_raw)
                found = clock_due[due_raw] = (due_at, due_at.isoformat())
            due, due_iso = found
            level, seq, overdue_since = None, seq or 0, None
            heads[(case_id, seq)] = head or GENESIS
            # The case row is written only when what a reader sees of it changes: a step at
            # or past the deadline (督办, escalation: level and overdue flag) or the top of
            # the ladder. A reminder before the deadline moves the timer alone.
            visible = False
            start_key = str(start_raw)  # as stored: the same on every read
            at: Any = at_raw
            while True:
                when = moment.get(at)
                if when is None:
                    parsed = _parse_utc(at)
                    when = moment[at] = (parsed, int(parsed.timestamp()))
                if when[0] > now:
                    break
                step_kind, level, fraction = steps[step_no]
                seq += 1
                key = keys.ladder(when[1], case_no, kind, start_key, level)
                pkey = (kind, due_raw, step_no, assignee)
                payload = payloads.get(pkey)
                if payload is None:
                    payload = payloads[pkey] = _payload_json(
                        kind, due_iso, step_no, fraction, assignee
                    )
                add_event(
                    event_row(
                        case_id,
                        seq,
                        level,
                        who,
                        role,
                        None,
                        None,
                        at_now,
                        recorded,
                        status,
                        status,
                        payload,
                        key,
                    )
                )
                for n_kind, recipient, head, tail in told.parts(step_kind, facts, payload):
                    body = head + _JS(case_no) + tail if head else tail
                    told_to.setdefault(recipient, []).append((case_id, n_kind, body, key))
                if step_no >= overdue_from:
                    visible = True
                    if not overdue:
                        overdue, overdue_since = True, due
                add_action(SweepAction(case_no, level, kind, due, assignee, community, overdue))
                step_no += 1
                at = next_step(start_raw, due, unit, step_no)
                if at is None:
                    break
            if isinstance(at, str):  # nothing fired (cannot happen: it was read as due)
                at = moment[at][0]
            next_at = stamp.get(at)
            if next_at is None and at is not None:
                next_at = stamp[at] = upd.value("next_sweep_at", at)
            if next_at is None:
                climbed.append((case_id, taken))
                visible = True
            else:
                moved.append((step_no, next_at, case_id, taken))
            if not visible:
                continue
            since = stamp.get(overdue_since)
            if since is None and overdue_since is not None:
                since = stamp[overdue_since] = upd.value("overdue_since", overdue_since)
            updates.append(
                (
                    upd_now,
                    step_no,
                    next_at,
                    level,
                    flag[bool(overdue)],
                    since,
                    version + 1,
                    case_id,
                    version,
                )
            )
        ins_events.copy(events)
        link(conn, events, heads)  # each event's hash on its case's chain (ledger/chain.py)
        ins_notes.copy(_digests(told_to, at_now))
        changed = upd.execute(updates)
        if changed not in (-1, len(updates)):
            raise IntegrityError("sweep update", None, Exception("case changed during sweep"))
        _move_timers(conn, moved, climbed)
        return actions, len(rows)


def _digests(told_to: dict[str, list[tuple[int, str, str, str]]], at: Any) -> list[tuple[Any, ...]]:
    """One outbox row per recipient: its one notice as it is, or a :data:`DIGEST` listing
    every notice of the batch (``{"count": n, "notices": [{"kind": …, **body}, …]}``; the
    case id when they are all about one case). Keyed by the first listed step's event key,
    so a batch that is re-read after a conflict writes the same key."""
    out = []
    for recipient, told in told_to.items():
        case_id, kind, body, key = told[0]
        if len(told) == 1:
            out.append(
                notice_row(case_id, kind, recipient, body, keys.notice(key, kind, recipient), at)
            )
            continue
        listed = ", ".join(
            '{"kind": ' + _JS(k) + (", " + b[1:] if b != "{}" else "}") for _, k, b, _ in told
        )
        one = {c for c, _, _, _ in told}
        out.append(
            notice_row(
                case_id if len(one) == 1 else None,
                DIGEST,
                recipient,
                f'{{"count": {len(told)}, "notices": [{listed}]}}',
                keys.notice(key, DIGEST, recipient),
                at,
            )
        )
    return out


def _move_timers(
    conn: Connection, moved: list[tuple[Any, ...]], climbed: list[tuple[int, int]]
) -> None:
    """The swept cases' timers: on to their next step, or gone at the top of the ladder.
    Each is matched on the step it was read at: a timer a concurrent writer moved meanwhile
    fails the batch, which is read again."""
    if conn.dialect.name == "postgresql":
        # One statement each over arrays (a statement per timer costs a round trip each), the
        # arrays as text literals: psycopg adapts a list element by element in Python, which
        # cost as much as the statement itself (10,000 timers: ~80 ms of client CPU).
        changed = 0
        if moved:
            step, due, ids, old = zip(*moved, strict=True)
            iso: dict[Any, str] = {}
            times = [iso.get(t) or iso.setdefault(t, t.isoformat()) for t in due]
            args = (_array(map(str, step)), _array(times), _array(map(str, ids)))
            changed += conn.exec_driver_sql(_PG_MOVE, (*args, _array(map(str, old)))).rowcount
        if climbed:
            ids, old = zip(*climbed, strict=True)
            pair = (_array(map(str, ids)), _array(map(str, old)))
            changed += conn.exec_driver_sql(_PG_DROP, pair).rowcount
    else:
        # ``due`` is already in stored form: the same value the cases UPDATE binds.
        upd = BulkStatement(conn, TIMERS, ("step", "due"), where=("case_id", "step"), raw=("due",))
        changed = upd.execute(moved)
        if climbed:
            done = conn.exec_driver_sql(
                "DELETE FROM timers WHERE case_id = ? AND step = ?", climbed
            )
            changed = -1 if -1 in (changed, done.rowcount) else changed + done.rowcount
    if changed not in (-1, len(moved) + len(climbed)):
        raise IntegrityError("sweep timers", None, Exception("timer moved during sweep"))


# The sweep's statements on PostgreSQL, for its transaction only. Each due timer is one seek
# per table (the timer's case, its last event and that event's hash, then the timer itself
# when it moves): from ~10,000 due timers on, the planner would rather read every case or
# timer of the ledger once for them (a hash join over a parallel scan of ``cases`` for the
# read; a merge join over every timer for the timers' UPDATE: 1,159 ms against 232 ms by
# seeks on 1,000,000 timers, 10,000 moved) — and the sweep's cost must follow the due count,
# not the total. No JIT: the read's estimated cost passes ``jit_above_cost`` and compiling
# it took ~170 ms of a ~730 ms read of 10,000 due timers (EXPLAIN ANALYZE, 100,000 cases).
_PG_PLANS = (
    "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0; "
    "SET LOCAL enable_mergejoin = off; SET LOCAL enable_hashjoin = off"
)


def _array(texts: Iterable[str]) -> str:
    """A PostgreSQL array literal of values that need no quoting (numbers, ISO times)."""
    return "{" + ",".join(texts) + "}"


_PG_MOVE = (
    "UPDATE timers AS t SET step = v.step, due = v.due FROM unnest("
    "%s::integer[], %s::timestamptz[], %s::integer[], %s::integer[]) AS v(step, due, id, old) "
    "WHERE t.case_id = v.id AND t.step = v.old"
)
_PG_DROP = (
    "DELETE FROM timers AS t USING unnest(%s::integer[], %s::integer[]) AS v(id, old) "
    "WHERE t.case_id = v.id AND t.step = v.old"
)


def _update(conn: Connection) -> BulkStatement:
    """Move each case on; NULL level / overdue_since mean "unchanged"."""
    return BulkStatement(
        conn, _T, UPDATE_COLUMNS, where=("id", "row_version"), raw=UPDATE_COLUMNS, wrap=_UNCHANGED
    )


# One mapping for every sweep: BulkStatement keeps its compiled statement per ``wrap``.
_UNCHANGED: dict[str, Callable[[Any], Any]] = {
    "supervision_level": lambda v: func.coalesce(v, _T.c.supervision_level),
    "overdue_since": lambda v: func.coalesce(v, _T.c.overdue_since),
}
