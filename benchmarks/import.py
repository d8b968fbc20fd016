"""Import speed against a raw load of the same rows into the same tables, in one run.

    .venv/bin/python benchmarks/import.py [--rows 1000000] [--chunk 20000]
                                          [--only sorted,shuffled,postgres]

Generates CSVs of closed and open cases (a 12345-hotline-like layout, local ISO times) in a
temporary directory and, per case, imports one with ``gridgov import``'s code into a fresh
ledger, then loads exactly the rows the import wrote (cases, case_events, their event_hashes
and timers) into a second fresh ledger the plainest fast way, timing only the inserts:

* ``sorted``: rows in time order (exports list cases by number) into SQLite; raw = the
  driver's ``executemany`` with the importer's connection settings. Target ≥ 1.0 of raw.
* ``shuffled``: the same rows not in time order (exports split by type, then concatenated),
  into SQLite; raw as above, of what this import wrote. Target ≥ 20,000 rows/s (quiet machine).
* ``postgres``: the sorted file into a PostgreSQL ledger (a dedicated schema in
  ``GRIDGOV_BENCH_PG_URL``, dropped afterwards); raw = ``COPY … FROM STDIN`` of the same rows
  (psycopg 3), chunk by chunk, each chunk committed as the import commits. Target ≥ 20,000
  rows/s.

Prints rows/s (source rows) of each import and of its raw load, their ratio, the CPU seconds
of each (this process; PostgreSQL's server CPU is on neither side) and a summary.
The machine's load changes both sides alike: compare ratios, not rows/s across runs.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gridgov.exchange.importer import Importer
from gridgov.exchange.mapping import parse_mapping
from gridgov.exchange.readers import CsvSource
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 10, 1, 12, tzinfo=TZ)
# What an import writes per case, (table, order): the raw loads copy exactly these rows.
WRITTEN = (
    ("cases", "id"),
    ("case_events", "id"),
    ("event_hashes", "case_id, seq"),
    ("timers", "case_id"),
)
PG_URL = os.environ.get("GRIDGOV_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TYPES = {
    "暴露垃圾": "SJ-SR-001",
    "道路不洁": "SJ-SR-003",
    "垃圾满冒": "SJ-SR-004",
    "上水井盖": "BJ-GY-001",
    "污水井盖": "BJ-GY-002",
    "路灯": "BJ-GY-008",
    "邻里纠纷": "SH-JF-001",
    "物业纠纷": "SH-JF-003",
    "消费纠纷": "SH-JF-009",
    "道路积水": "SJ-TF-003",
}
DEPTS = {"城管": "CG", "水务": "SW", "住建": "ZJ", "市场监管": "SC"}
MAPPING = {
    "source_system": "bench-12345",
    "format": "csv",
    "date_format": "%Y-%m-%d %H:%M:%S",
    "columns": {
        "id": "ticket_id",
        "created": "created_at",
        "closed": "closed_at",
        "status": "state",
        "department": "agency",
        "type": "category",
        "community": "community_code",
        "grid": "grid_code",
        "description": "content",
    },
    "status": {
        "values": {
            "已结案": "closed",
            "处理中": "dispatched",
            "待派遣": "reported",
            "作废": "cancelled",
        }
    },
    "types": {"values": TYPES},
    "departments": {"values": DEPTS},
}


def generate(
    path: Path, n: int, catalog_grids: list[tuple[str, str]], shuffled: bool = False
) -> None:
    rng = np.random.default_rng(7)
    start = int(datetime(2025, 1, 2, tzinfo=TZ).timestamp())
    span = int(datetime(2026, 9, 20, tzinfo=TZ).timestamp()) - start
    created = start + rng.integers(0, span, n)
    created -= created % 60  # whole minutes, like most exports
    created.sort()  # exports list cases by number, i.e. by time
    closed = created + rng.integers(1800, 10 * 86400, n)
    state = rng.choice(["已结案", "处理中", "待派遣", "作废"], n, p=[0.9, 0.05, 0.03, 0.02])
    types = np.array(list(TYPES))
    category = types[rng.integers(0, len(types), n)]
    dept_of = {"SJ": "城管", "BJ": "水务", "SH": "市场监管"}
    agency = np.array([dept_of[TYPES[c][:2]] for c in types])[rng.integers(0, len(types), n)]
    grids = np.array(catalog_grids, dtype=object)[rng.integers(0, len(catalog_grids), n)]

    def local(ts: np.ndarray) -> pd.Series:
        t = pd.to_datetime(ts, unit="s", utc=True).tz_convert(TZ)
        return pd.Series(t.strftime("%Y-%m-%d %H:%M:%S"))

    df = pd.DataFrame(
        {
            "ticket_id": [f"T{i:08d}" for i in range(n)],
            "created_at": local(created),
            "closed_at": local(closed).where(np.isin(state, ["已结案", "作废"]), ""),
            "state": state,
            "agency": agency,
            "category": category,
            "community_code": grids[:, 1],
            "grid_code": grids[:, 0],
            "content": "市民反映问题，请尽快处理",
        }
    )
    if shuffled:  # e.g. an export split by type, then concatenated: not in time order
        df = df.sample(frac=1.0, random_state=11)
    df.to_csv(path, index=False, encoding="utf-8")


def ledger(directory: Path, name: str) -> tuple[Runtime, str]:
    path = directory / f"{name}.sqlite3"
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"))
    rt.init_ledger()
    return rt, str(path)


Raw = tuple[float, float, int, int]  # wall s, CPU s (this process), cases, events


def raw_copy(src: str, dst: str, chunk: int) -> Raw:
    """executemany the rows the import wrote in ``src`` (WRITTEN) into ``dst``; time inserts."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=OFF",
        "cache_size=-262144",
    ):
        b.execute(f"PRAGMA {pragma}")
    spent, cpu, counts = 0.0, 0.0, []
    for table, key in WRITTEN:
        cols = [r[1] for r in a.execute(f"PRAGMA table_info({table})")]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        cur = a.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {key}")
        total = 0
        while rows := cur.fetchmany(chunk * (1 if table in ("cases", "timers") else 4)):
            t0, c0 = time.perf_counter(), time.process_time()
            b.executemany(sql, rows)
            b.commit()
            spent += time.perf_counter() - t0
            cpu += time.process_time() - c0
            total += len(rows)
        counts.append(total)
    a.close()
    b.close()
    return spent, cpu, counts[0], counts[1]


def pg_raw_copy(src_schema: str, chunk: int) -> Raw:
    """COPY the rows the import wrote in ``src_schema`` (WRITTEN) into a fresh ledger schema,
    a chunk of cases (and their rows) per transaction; time only the COPY into it and commits."""
    import psycopg

    dst = f"bench_raw_{uuid.uuid4().hex[:8]}"
    with pg_ledger(dst) as _:
        dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as a, psycopg.connect(dsn) as b:
            cols = {
                t: [
                    r[0]
                    for r in a.execute(
                        "SELECT column_name FROM information_schema.columns WHERE "
                        "table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                        (src_schema, t),
                    )
                ]
                for t, _ in WRITTEN
            }
            top = a.execute(f'SELECT coalesce(max(id), 0) FROM "{src_schema}".cases').fetchone()
            spent, cpu, counts = 0.0, 0.0, {t: 0 for t, _ in WRITTEN}
            for lo in range(0, int(top[0] if top else 0), chunk):
                blocks: dict[str, list[bytes]] = {}
                for t, order in WRITTEN:
                    key = "id" if t == "cases" else "case_id"
                    q = (
                        f'COPY (SELECT {", ".join(cols[t])} FROM "{src_schema}".{t} '
                        f"WHERE {key} > {lo} AND {key} <= {lo + chunk} ORDER BY {order}) "
                        "TO STDOUT"
                    )
                    with a.cursor().copy(q) as out:
                        blocks[t] = [bytes(b) for b in out]
                t0, c0 = time.perf_counter(), time.process_time()
                with b.transaction():
                    for t, _ in WRITTEN:
                        sql = f'COPY "{dst}".{t} ({", ".join(cols[t])}) FROM STDIN'
                        with b.cursor().copy(sql) as inn:
                            for block in blocks[t]:
                                inn.write(block)
                spent += time.perf_counter() - t0
                cpu += time.process_time() - c0
                for t in blocks:
                    counts[t] += sum(x.count(b"\n") for x in blocks[t])
    return spent, cpu, counts["cases"], counts["case_events"]


@contextmanager
def pg_ledger(schema: str) -> Iterator[Runtime]:
    """A fresh, initialised ledger in its own PostgreSQL schema, dropped afterwards."""
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        rt = build_runtime(Settings(database_url=url.render_as_string(hide_password=False)))
        rt.init_ledger()
        try:
            yield rt
        finally:
            rt.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def run_import(rt: Runtime, csv: Path, chunk: int, rejects: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds (this process: both of the importer's threads) of an import."""
    mapping = parse_mapping(MAPPING)
    t0, c0 = time.perf_counter(), time.process_time()
    s = Importer(rt.book, mapping, now=NOW, chunk_size=chunk, rejects=rejects).run(
        CsvSource(csv, mapping)
    )
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    if s.rejected_total or s.imported != s.read:
        raise SystemExit(f"import rejected {s.rejected_total} of {s.read} rows: see {rejects}")
    return took, cpu, s.read


def report(
    name: str, read: int, took: float, cpu: float, raw: Raw, how: str
) -> tuple[float, float, float]:
    """Print one case; (import rows/s, ratio to raw, import CPU / raw CPU)."""
    spent, raw_cpu, n_cases, n_events = raw
    rate, raw_rate = read / took, n_cases / spent
    print(f"{name}: import {read:,} rows in {took:.1f} s (CPU {cpu:.1f} s) → {rate:,.0f} rows/s")
    print(
        f"{name}: raw {how}: {n_cases:,} cases + {n_events:,} events in {spent:.1f} s "
        f"(CPU {raw_cpu:.1f} s) → {raw_rate:,.0f} rows/s (source rows); "
        f"ratio import/raw {rate / raw_rate:.2f}"
    )
    return rate, rate / raw_rate, cpu / raw_cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--only", default="sorted,shuffled,postgres", help="cases to run")
    args = ap.parse_args()
    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(cases) - {"sorted", "shuffled", "postgres"}
    if unknown:
        ap.error(f"unknown cases {sorted(unknown)}")
    print(f"load before: {os.getloadavg()[0]:.1f} (1-min average), {os.cpu_count()} cores")
    summary: list[tuple[str, tuple[float, float, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rt, _ = ledger(d, "grids")
        grids = sorted(
            (u.code, u.parent or "") for u in rt.catalog.territory.values() if u.kind == "grid"
        )
        rt.engine.dispose()
        files: dict[bool, Path] = {}
        for shuffled in sorted({c == "shuffled" for c in cases}):
            files[shuffled] = d / f"cases-{'shuffled' if shuffled else 'sorted'}.csv"
            t0 = time.perf_counter()
            generate(files[shuffled], args.rows, grids, shuffled)
            print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
        for case in cases:
            if case == "postgres":
                schema = f"bench_import_{uuid.uuid4().hex[:8]}"
                with pg_ledger(schema) as rt:
                    took, cpu, read = run_import(rt, files[False], args.chunk, d / "rejects.csv")
                    raw = pg_raw_copy(schema, args.chunk)
                result = report(case, read, took, cpu, raw, "COPY")
            else:
                rt, src = ledger(d, f"import-{case}")
                took, cpu, read = run_import(rt, files[case == "shuffled"], args.chunk, d / "r.csv")
                rt.engine.dispose()
                rt2, dst = ledger(d, f"raw-{case}")
                rt2.engine.dispose()
                raw = raw_copy(src, dst, args.chunk)
                result = report(case, read, took, cpu, raw, "executemany")
                for f in (src, dst):
                    Path(f).unlink()
            summary.append((case, result))
    print(f"load after: {os.getloadavg()[0]:.1f}")
    for case, (rate, ratio, cpu_ratio) in summary:
        print(
            f"  {case:<9} {rate:>9,.0f} rows/s   {ratio:.2f} of raw   "
            f"CPU {cpu_ratio:.2f}x raw's (client side)"
        )


if __name__ == "__main__":
    main()
