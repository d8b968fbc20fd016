"""One 督办 sweep on a big ledger: its time must follow the number of cases due, not the total.

    .venv/bin/python benchmarks/supervision.py [--total 1000000] [--small 100000]
                                               [--backend sqlite|postgres|both]

For each backend it bulk-loads ``--total`` open community cases (created → dispatched →
acknowledged, so each runs its handling clock in working days) straight into the tables with
executemany, then times ``gridgov.ledger.supervision.sweep`` three times, at three moments
T1 < T2 < T3 twenty minutes apart. The cases are placed so that exactly 0.1 %, 1 % and 10 %
of the total have their next ladder step due in (T0, T1], (T1, T2] and (T2, T3]; every other
case's next step is days away, and a swept case's next step (the 督办 at 100 %) is a working
day later, so each sweep sees exactly its own group. A second ledger of ``--small`` cases with
the same due count as the 1 % sweep shows that the total does not matter.

PostgreSQL: 127.0.0.1:5432, database ``test``, user postgres (trust); a dedicated schema is
created and dropped afterwards. Prints due count, sweep time and time per due case.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, Table, create_engine, text
from sqlalchemy.engine import make_url

from gridgov.domain.deadlines import Clock, DeadlineKind
from gridgov.domain.enums import Tier
from gridgov.ledger.fastrows import BulkStatement
from gridgov.ledger.models import Case, CaseEvent
from gridgov.ledger.supervision import sweep
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings

PG_URL = os.environ.get("GRIDGOV_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 9, 40, tzinfo=TZ)  # a Monday morning, in office hours
STEP = timedelta(minutes=20)
CHUNK = 50_000


@dataclass(frozen=True)
class Template:
    """Clock fields shared by every case that started at ``start`` on ``item``."""

    item: str
    version: int
    handle_unit: str
    start: datetime
    ack_due: datetime
    handle_due: datetime
    remind_at: datetime


def templates(rt: Runtime) -> dict[int, list[Template]]:
    """Tier-2 handling clocks by the window their reminder falls in: 1, 2, 3 = due at
    T1, T2, T3; 0 = not due before T3 (minute-grained starts over the past weeks)."""
    cal, ladder = rt.calendar, rt.book.ladder
    items = [
        i
        for i in rt.catalog.in_force(T0.date())
        if i.tier == Tier.COMMUNITY and i.deadlines.handle.unit.value == "working_days"
    ]
    out: dict[int, list[Template]] = {0: [], 1: [], 2: [], 3: []}
    bounds = [T0 + STEP * k for k in range(4)]
    for item in sorted(items, key=lambda i: i.code):
        rules = rt.book.rules(item.code, item.version)
        moment = T0 - timedelta(days=int(item.deadlines.handle.amount * 1.6) + 2)
        while moment < T0:
            moment += timedelta(minutes=7)
            if not cal.is_workday(moment.date()) or not (9 <= moment.hour < 17):
                continue
            due = cal.deadline(moment, rules.handle)
            clock = Clock(DeadlineKind.HANDLE, moment, due, rules.handle.unit)
            remind = ladder.step_due_at(cal, clock, 0)
            assert remind is not None
            if remind <= bounds[0]:
                continue  # would already have been reminded
            group = next((k for k in (1, 2, 3) if remind <= bounds[k]), 0)
            out[group].append(
                Template(
                    item.code,
                    item.version,
                    rules.handle.unit.value,
                    moment,
                    cal.deadline(moment, rules.acknowledge),
                    due,
                    remind,
                )
            )
    assert all(out.values()), {k: len(v) for k, v in out.items()}
    return out


def case_rows(
    rt: Runtime, total: int, groups: dict[int, int], seed: int, scatter: bool = False
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Chunks of (cases, events) rows: ``groups[k]`` cases due at T_k, the rest not due.

    Case ids follow the start of their clocks, as in a ledger where cases are numbered as
    they come in; ``scatter`` shuffles them instead (the worst case for page locality)."""
    rng = random.Random(seed)
    tpl = templates(rt)
    grids = sorted(
        (u for u in rt.catalog.territory.values() if u.kind.value == "grid"), key=lambda u: u.code
    )
    grids_ = [(g.code, g.parent or "") for g in grids]
    street = {c: rt.catalog.street_of(c) for _, c in grids_}
    names = {i.code: i.name_zh for i in rt.catalog.items}
    cats = {i.code: i.category for i in rt.catalog.items}
    plan = [k for k, n in groups.items() for _ in range(n)]
    plan += [0] * (total - len(plan))
    picks = [rng.choice(tpl[group]) for group in plan]
    if scatter:
        rng.shuffle(picks)
    else:
        picks.sort(key=lambda t: t.start)
    recorded = datetime.now(UTC)
    cases: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for n, t in enumerate(picks, 1):
        grid, community = rng.choice(grids_)
        opened = t.start - timedelta(minutes=3)
        cases.append(
            dict(
                id=n,
                case_no=f"C{20261101 + (n - 1) // 999_999}-{(n - 1) % 999_999 + 1:06d}",
                item_code=t.item,
                item_version=t.version,
                item_name=names[t.item],
                tier=2,
                category=cats[t.item],
                status="acknowledged",
                source="patrol",
                reporter="grid-worker",
                description="",
                media=[],
                street_code=street[community],
                community_code=community,
                grid_code=grid,
                building=None,
                lat=None,
                lon=None,
                lead_department="COMMUNITY",
                assisting=[],
                assignee="COMMUNITY",
                opened_at=opened,
                dispatched_at=t.start,
                acknowledged_at=t.start + timedelta(minutes=1),
                arrived_at=None,
                handled_at=None,
                closed_at=None,
                updated_at=t.start + timedelta(minutes=1),
                acknowledge_due=t.ack_due,
                arrive_due=None,
                handle_due=t.handle_due,
                review_due=None,
                clock_kind="handle",
                clock_start=t.start,
                clock_due=t.handle_due,
                clock_unit=t.handle_unit,
                ladder_done=0,
                next_sweep_at=t.remind_at,
                supervision_level=None,
                overdue=False,
                overdue_since=None,
                rework_count=0,
                return_count=0,
                extension_count=0,
                extension_pending=False,
                spot_check=None,
                rating=None,
                repeat_count=1,
                dedupe_key=None,
                deadline_source="catalog",
                flow_run_id=None,
                source_system=None,
                source_id=None,
                row_version=3,
            )
        )
        for seq, (kind, at, frm, to, role) in enumerate(
            (
                ("created", opened, None, "reported", "patroller"),
                ("dispatched", t.start, "reported", "dispatched", "system"),
                (
                    "acknowledged",
                    t.start + timedelta(minutes=1),
                    "dispatched",
                    "acknowledged",
                    "community",
                ),
            ),
            1,
        ):
            events.append(
                dict(
                    case_id=n,
                    seq=seq,
                    kind=kind,
                    actor="bench",
                    role=role,
                    department=None,
                    community=community if role == "community" else None,
                    at=at,
                    recorded_at=recorded,
                    from_status=frm,
                    to_status=to,
                    payload={},
                    idempotency_key=f"bench-{n}-{seq}",
                )
            )
        if len(cases) >= CHUNK:
            yield cases, events
            cases, events = [], []
    if cases:
        yield cases, events


def load(
    rt: Runtime, total: int, groups: dict[int, int], seed: int = 7, scatter: bool = False
) -> float:
    t0 = time.perf_counter()
    with rt.engine.begin() as conn:
        ins_case = ins_event = None
        for cases, events in case_rows(rt, total, groups, seed, scatter):
            if ins_case is None or ins_event is None:
                ins_case = BulkStatement(conn, cast(Table, Case.__table__), list(cases[0]))
                ins_event = BulkStatement(conn, cast(Table, CaseEvent.__table__), list(events[0]))
            ins_case.execute([tuple(r.values()) for r in cases])
            ins_event.execute([tuple(r.values()) for r in events])
    # A ledger at rest: statistics gathered, the write-ahead log folded into the file.
    with rt.engine.begin() as conn:
        if rt.engine.dialect.name == "postgresql":
            conn.execute(text("analyze cases; analyze case_events"))
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - t0


def timed_sweeps(rt: Runtime, groups: dict[int, int]) -> list[tuple[int, int, float, float]]:
    """(due, acted, wall seconds, this process's CPU seconds) per sweep."""
    out = []
    for k in sorted(groups):
        t0, c0 = time.perf_counter(), time.process_time()
        actions = sweep(rt.book, T0 + STEP * k)
        out.append((groups[k], len(actions), time.perf_counter() - t0, time.process_time() - c0))
    return out


def report(label: str, rows: list[tuple[int, int, float, float]], total: int) -> None:
    for due, acted, secs, cpu in rows:
        share = due / total * 100
        print(
            f"  {label:<6} total {total:>9,}  due {due:>7,} ({share:5.2f} %)  "
            f"acted {acted:>7,}  sweep {secs * 1000:7.1f} ms (cpu {cpu * 1000:7.1f} ms)  "
            f"{secs / max(due, 1) * 1e6:6.1f} µs/due case",
            flush=True,
        )


def backend(name: str) -> Iterator[tuple[Callable[[], Runtime], Callable[[], None]]]:
    """Yields a factory of fresh ledgers on ``name`` and a cleanup."""
    if name == "sqlite":
        tmp = tempfile.TemporaryDirectory(prefix="gridgov-bench-")
        made: list[Runtime] = []

        def make() -> Runtime:
            path = Path(tmp.name) / f"ledger-{len(made)}.sqlite3"
            rt = build_runtime(Settings(database_url=f"sqlite:///{path}"))
            rt.init_ledger()
            made.append(rt)
            return rt

        def clean() -> None:
            for rt in made:
                rt.engine.dispose()
            tmp.cleanup()

        yield make, clean
        return
    admin = create_engine(PG_URL)
    schemas: list[str] = []
    made_pg: list[Runtime] = []

    def make_pg() -> Runtime:
        schema = f"bench_sweep_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(text(f'create schema "{schema}"'))
        schemas.append(schema)
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        rt = build_runtime(Settings(database_url=url.render_as_string(hide_password=False)))
        rt.init_ledger()
        made_pg.append(rt)
        return rt

    def clean_pg() -> None:
        for rt in made_pg:
            rt.engine.dispose()
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()

    yield make_pg, clean_pg


def run(name: str, total: int, small: int, scatter: bool) -> None:
    print(f"\n{name}" + (" (scattered ids)" if scatter else ""), flush=True)
    for make, clean in backend(name):
        try:
            big = {1: total // 1000, 2: total // 100, 3: total // 10}
            rt = make()
            secs = load(rt, total, big, scatter=scatter)
            print(f"  loaded {total:,} cases + {3 * total:,} events in {secs:.1f} s", flush=True)
            report("big", timed_sweeps(rt, big), total)
            rt.engine.dispose()
            same = {2: total // 100}
            rt2 = make()
            secs = load(rt2, small, same, seed=11, scatter=scatter)
            print(f"  loaded {small:,} cases in {secs:.1f} s", flush=True)
            report("small", timed_sweeps(rt2, same), small)
        finally:
            clean()


def engine_ok(url: str) -> bool:
    try:
        eng: Engine = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--total", type=int, default=1_000_000)
    p.add_argument("--small", type=int, default=100_000)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--scatter", action="store_true", help="due cases at random ids")
    args = p.parse_args()
    names = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for name in names:
        if name == "postgres" and not engine_ok(PG_URL):
            print(f"\npostgres: not reachable at {PG_URL}, skipped")
            continue
        run(name, args.total, args.small, args.scatter)


if __name__ == "__main__":
    main()
