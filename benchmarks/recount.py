"""`gridgov calendar recount` in bulk: provisional cases recounted one transaction per case
(``batch=1``, as before) against ``RECOUNT_BATCH`` cases per transaction, in one run.

    .venv/bin/python benchmarks/recount.py [--cases 2000] [--postgres]

Imports ``--cases`` open cases opened on 30–31 December 2026 (3 working days: they reach 2027,
which has no holiday data, so each is marked provisional) into a fresh SQLite ledger, copies
the file, then recounts each copy with a calendar that has 2027 (1 and 4 January as holidays):
once a case per transaction, once in batches. Prints cases/s of both and the ratio, with the
machine's load. ``--postgres`` does the same in two schemas of ``GRIDGOV_BENCH_PG_URL`` (default
the test database), dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gridgov.domain.calendar import CalendarDataWarning, WorkingCalendar
from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import Actor
from gridgov.exchange.importer import Importer
from gridgov.exchange.mapping import parse_mapping
from gridgov.exchange.readers import open_file
from gridgov.item_catalog.holidays import parse_holidays
from gridgov.item_catalog.loader import load_catalog
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.provisional import RECOUNT_BATCH, recount_provisional
from gridgov.runtime import build_runtime
from gridgov.settings import Settings
from tests.conftest import at

MAPPING = {
    "source_system": "bench-recount",
    "date_format": "%Y-%m-%d %H:%M:%S",
    "columns": {"id": "id", "created": "opened", "status": "status", "type": "kind",
                "community": "area"},
    "status": {"values": {"open": "dispatched"}},
    "types": {"default": "SH-JF-004"},
}  # fmt: skip
HOLIDAYS = "years:\n  2027:\n    source: bench\n    holidays: [2027-01-01, 2027-01-04]\n"
PG_URL = os.environ.get("GRIDGOV_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _csv(path: Path, n: int) -> None:
    rows = ["id,opened,status,kind,area"]
    for i in range(n):
        day, minute = 30 + i % 2, i % 480
        rows.append(
            f"B-{i},2026-12-{day} {9 + minute // 60:02d}:{minute % 60:02d}:00,open,noise,"
            "GM-GM-GUANGMING"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _fill(url: str, data: Path) -> None:
    catalog = load_catalog(None)
    rt = build_runtime(Settings(database_url=url), catalog)
    rt.init_ledger()
    m = parse_mapping(MAPPING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarDataWarning)
        Importer(rt.book, m, now=at(2026, 12, 31, 18)).run(open_file(data, m))
    rt.engine.dispose()


def _recount(url: str, batch: int) -> tuple[float, int]:
    rt = build_runtime(Settings(database_url=url), load_catalog(None))
    book = CaseBook(rt.engine, rt.catalog, WorkingCalendar(holidays=parse_holidays(HOLIDAYS)),
                    rt.book.ladder)  # fmt: skip
    t0 = time.perf_counter()
    report = recount_provisional(book, at(2027, 1, 2, 10), Actor(Role.SYSTEM, "bench"), batch)
    took = time.perf_counter() - t0
    rt.engine.dispose()
    return took, report.recounted


def _pg_schema() -> tuple[str, Callable[[], None]]:
    schema = f"gridgov_bench_d_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()

    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), drop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f} (1 min), {args.cases} provisional cases")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cases.csv"
        _csv(data, args.cases)
        if args.postgres:
            (one, drop_one), (many, drop_many) = _pg_schema(), _pg_schema()
            cleanup = [drop_one, drop_many]
            _fill(one, data)
            _fill(many, data)
            backend = "postgresql"
        else:
            first = Path(tmp) / "one.sqlite3"
            _fill(f"sqlite:///{first}", data)
            shutil.copy(first, Path(tmp) / "many.sqlite3")
            one, many = f"sqlite:///{first}", f"sqlite:///{Path(tmp) / 'many.sqlite3'}"
            cleanup, backend = [], "sqlite"
        try:
            t1, n1 = _recount(one, 1)
            tb, nb = _recount(many, RECOUNT_BATCH)
        finally:
            for drop in cleanup:
                drop()
    assert n1 == nb == args.cases, (n1, nb)
    per_case = f"one case per transaction {n1 / t1:,.0f} cases/s ({t1:.1f} s)"
    batched = f"{RECOUNT_BATCH} per transaction {nb / tb:,.0f} cases/s ({tb:.1f} s)"
    print(f"{backend}: {per_case}; {batched}; x{t1 / tb:.1f}")


if __name__ == "__main__":
    main()
