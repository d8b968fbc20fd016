"""Import speed against a raw executemany of the same rows into the same tables, in one run.

    .venv/bin/python benchmarks/import.py [--rows 1000000] [--chunk 20000] [--shuffled]
                                          [--postgres]

Generates a CSV of closed and open cases (a 12345-hotline-like layout, local ISO times) in a
temporary directory, imports it into a fresh SQLite ledger with ``gridgov import``'s code, then
copies exactly the rows the import wrote (cases and case_events) into a second fresh ledger
with the driver's ``executemany`` (the same connection settings the importer uses), timing
only the inserts. Prints rows/s of both and their ratio (targets: ≥ 0.3 of raw, ≥ 20,000
rows/s). ``--shuffled``: the file's rows are not in time order (exports split by type
are not; target ≥ 20,000 rows/s on SQLite too). ``--postgres``: also imports the file into a
PostgreSQL ledger (a dedicated schema in ``GRIDGOV_BENCH_PG_URL``, dropped afterwards) and
prints its rows/s (target ≥ 20,000).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gridgov.exchange.importer import Importer
from gridgov.exchange.mapping import Mapping, parse_mapping
from gridgov.exchange.readers import CsvSource
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
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


def raw_copy(src: str, dst: str, chunk: int) -> tuple[float, int, int]:
    """executemany the rows of ``src``'s cases and case_events into ``dst``; time inserts."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=OFF",
        "cache_size=-262144",
    ):
        b.execute(f"PRAGMA {pragma}")
    spent, counts = 0.0, []
    for table in ("cases", "case_events"):
        cols = [r[1] for r in a.execute(f"PRAGMA table_info({table})")]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        cur = a.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id")
        total = 0
        while rows := cur.fetchmany(chunk * (4 if table == "case_events" else 1)):
            t0 = time.perf_counter()
            b.executemany(sql, rows)
            b.commit()
            spent += time.perf_counter() - t0
            total += len(rows)
        counts.append(total)
    a.close()
    b.close()
    return spent, counts[0], counts[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--shuffled", action="store_true", help="rows not in time order")
    ap.add_argument("--postgres", action="store_true", help="also import into PostgreSQL")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rt, src = ledger(d, "import")
        grids = sorted(
            (u.code, u.parent or "") for u in rt.catalog.territory.values() if u.kind == "grid"
        )
        csv = d / "cases.csv"
        t0 = time.perf_counter()
        generate(csv, args.rows, grids, args.shuffled)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
        mapping = parse_mapping(MAPPING)
        now = datetime(2026, 10, 1, 12, tzinfo=TZ)
        t0 = time.perf_counter()
        s = Importer(
            rt.book, mapping, now=now, chunk_size=args.chunk, rejects=d / "rejects.csv"
        ).run(CsvSource(csv, mapping))
        took = time.perf_counter() - t0
        rt.engine.dispose()
        print(
            f"import: read {s.read:,}, imported {s.imported:,}, rejected {s.rejected_total}"
            f" in {took:.1f} s → {s.read / took:,.0f} rows/s"
        )
        rt2, dst = ledger(d, "raw")
        rt2.engine.dispose()
        spent, n_cases, n_events = raw_copy(src, dst, args.chunk)
        raw_rate = n_cases / spent
        print(
            f"raw executemany: {n_cases:,} cases + {n_events:,} events in {spent:.1f} s "
            f"→ {raw_rate:,.0f} rows/s (source rows)"
        )
        print(f"ratio import/raw: {s.read / took / raw_rate:.2f}")
        if args.postgres:
            postgres(csv, mapping, now, args.chunk, d)


def postgres(csv: Path, mapping: Mapping, now: datetime, chunk: int, d: Path) -> None:
    schema = f"bench_import_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        rt = build_runtime(Settings(database_url=url.render_as_string(hide_password=False)))
        rt.init_ledger()
        t0 = time.perf_counter()
        s = Importer(rt.book, mapping, now=now, chunk_size=chunk, rejects=d / "pg_rejects.csv").run(
            CsvSource(csv, mapping)
        )
        took = time.perf_counter() - t0
        rt.engine.dispose()
        print(
            f"postgres import: read {s.read:,}, imported {s.imported:,} in {took:.1f} s "
            f"→ {s.read / took:,.0f} rows/s"
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


if __name__ == "__main__":
    main()
