"""Machine-event intake into the SQLite ledger, against a raw executemany of the same rows.

    .venv/bin/python benchmarks/intake.py [--incidents 25000] [--postgres]

1. Writes a JSON Lines file of AI-camera / IoT-sensor events (``gridgov.simulate.events``:
   incidents re-reported in bursts, so about half the rows are repeats).
2. **intake**: ``BulkIntake.ingest_file`` into a fresh ledger — parse, validate against the
   catalogue, skip seen event ids, deduplicate, reserve case numbers, compute clocks, write
   cases + created/dispatched events + outbox notices + intake records (executemany).
3. **raw**: the rows step 2 wrote (read back as stored), inserted with plain DBAPI
   executemany into another fresh ledger, in as many transactions — the floor.
4. **again**: the same file a second time must write nothing.

Prints events/s of each, and intake ÷ raw (target: ≥ 5,000 events/s and ≥ 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gridgov.intake.bulk import CHUNK, BulkIntake
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings
from gridgov.simulate.events import machine_events

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 7, 0, tzinfo=TZ)
TABLES = ("case_counters", "cases", "case_events", "notifications", "intake_events")
PG_URL = os.environ.get("GRIDGOV_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def write_file(rt: Runtime, path: Path, incidents: int, seed: int) -> int:
    rng = random.Random(seed)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in machine_events(rt.catalog, rng, incidents, START, timedelta(hours=14)):
            fh.write(json.dumps(row) + "\n")
            n += 1
    return n


def fresh(url: str) -> Runtime:
    rt = build_runtime(Settings(database_url=url))
    rt.init_ledger()
    return rt


def raw_copy(src: Engine, dst: Engine, transactions: int) -> tuple[float, int]:
    """Insert every row ``src`` holds in TABLES into ``dst`` with DBAPI executemany."""
    data: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}
    with src.connect() as conn:
        for table in TABLES:
            res = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1")
            data[table] = (list(res.keys()), [tuple(r) for r in res])
    mark = "?" if dst.dialect.paramstyle == "qmark" else "%s"
    rows = sum(len(r) for _, r in data.values())

    def share(table: str, cols: list[str], row: tuple[object, ...]) -> int:
        """The transaction a row goes in: its case's (so foreign keys hold)."""
        if table == "case_counters":
            return 0
        case_id = row[cols.index("id" if table == "cases" else "case_id")]
        return int(case_id) % transactions  # type: ignore[call-overload]

    parts = {
        t: [[r for r in rs if share(t, cols, r) == k] for k in range(transactions)]
        for t, (cols, rs) in data.items()
    }
    t0 = time.perf_counter()
    for k in range(transactions):
        with dst.begin() as conn:
            for table, (cols, _) in data.items():
                part = parts[table][k]
                if part:
                    sql = (
                        f"INSERT INTO {table} ({', '.join(cols)}) "
                        f"VALUES ({', '.join([mark] * len(cols))})"
                    )
                    conn.exec_driver_sql(sql, part)
    return time.perf_counter() - t0, rows


def run(label: str, make: list[str], path: Path, events: int) -> None:
    rt_a, rt_b = fresh(make[0]), fresh(make[1])
    intake = BulkIntake(rt_a.book)
    t0 = time.perf_counter()
    report = intake.ingest_file(path)
    secs = time.perf_counter() - t0
    assert not report.errors, report.errors[:3]
    raw_secs, rows = raw_copy(rt_a.engine, rt_b.engine, -(-events // CHUNK))
    t1 = time.perf_counter()
    again = intake.ingest_file(path)
    again_secs = time.perf_counter() - t1
    assert again.opened == again.repeats == 0 and again.already == events, again
    rate, raw_rate = events / secs, events / raw_secs
    print(f"\n{label}: {events:,} events → {report.opened:,} cases, {report.repeats:,} repeats")
    print(f"  intake : {secs:6.2f} s  {rate:9,.0f} events/s")
    print(f"  raw    : {raw_secs:6.2f} s  {raw_rate:9,.0f} events/s  ({rows:,} rows executemany)")
    print(f"  ratio  : {rate / raw_rate:.2f} (intake ÷ raw)")
    print(f"  again  : {again_secs:6.2f} s  {again.already:,} already ingested, nothing written")
    for rt in (rt_a, rt_b):
        rt.engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--incidents", type=int, default=25_000)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--postgres", action="store_true", help="also on PostgreSQL (information)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridgov-intake-") as tmp:
        d = Path(tmp)
        probe = fresh(f"sqlite:///{d / 'probe.sqlite3'}")
        path = d / "events.jsonl"
        events = write_file(probe, path, args.incidents, args.seed)
        probe.engine.dispose()
        urls = [f"sqlite:///{d / 'a.sqlite3'}", f"sqlite:///{d / 'b.sqlite3'}"]
        run("sqlite", urls, path, events)
        if args.postgres:
            admin = create_engine(PG_URL)
            schemas = [f"bench_intake_{uuid.uuid4().hex[:8]}" for _ in range(2)]
            with admin.begin() as conn:
                for s in schemas:
                    conn.execute(text(f'create schema "{s}"'))
            try:
                pg = [
                    make_url(PG_URL)
                    .update_query_dict({"options": f"-csearch_path={s}"})
                    .render_as_string(hide_password=False)
                    for s in schemas
                ]
                run("postgres", pg, path, events)
            finally:
                with admin.begin() as conn:
                    for s in schemas:
                        conn.execute(text(f'drop schema "{s}" cascade'))
                admin.dispose()


if __name__ == "__main__":
    main()
