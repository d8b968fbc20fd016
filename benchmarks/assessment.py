"""Monthly assessment on a big SQLite ledger, against a plain pandas groupby, in one run.

    .venv/bin/python benchmarks/assessment.py [--cases 1000000] [--months 12] [--db PATH]
                                              [--audit] [--reports] [--postgres URL]

1. Load (in a child process, so its memory does not count against the assessment): migrate
   a fresh SQLite ledger, load the shipped catalogue (Runtime.init_ledger), then bulk-load
   ``--cases`` synthetic cases spread over ``--months`` months ending October 2026, with their
   events (dispatch, acknowledge, arrive, returns and re-routes, extensions, reminders,
   handling, failed reviews and rework, reviews, callbacks, closures, cancellations).
   Numbers are drawn with numpy; the rows are written by SQLite itself: one compact plan row
   per case (executemany) and then ``INSERT … SELECT`` per event step. Deadlines are the
   catalogue's, computed with the working-time calendar (vectorised).
2. In this process: the monthly assessment of October 2026 (default scheme), timed; then a
   plain pandas baseline in the same run — the same columns read with ``pd.read_sql`` and the
   same headline counts (due, closed, on time, overdue per department; event counts per
   department) by ``groupby`` — and the ratio. Peak RSS of each process (getrusage).
   ``--reports`` also times writing CSV/XLSX/HTML; ``--audit`` runs the Great Expectations
   audit of the month and prints its time per expectation.
3. The new read (Arrow through ADBC) against the old one (rows through the Python driver),
   each in a fresh child process (its own peak RSS), in the same run: time, stages, peak RSS,
   the ratio, and whether the KPI totals are identical. ``--postgres URL`` copies the SQLite
   ledger into a fresh schema of that PostgreSQL database (``COPY``), compares the two reads
   there too, and drops the schema.

Targets: assessment under 10 s and under 2 GB peak on this machine (2 cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TZ = ZoneInfo("Asia/Shanghai")
MONTH = "2026-10"
END = datetime(2026, 11, 1, tzinfo=TZ)  # the load ends with October 2026
S = 1  # one second, in the plan's integer seconds
MIN, HOUR = 60 * S, 3600 * S


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------------- loading
def _plan(n: int, months: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Per case: indices into small lookup tables, flags, event times (s) and seqs."""
    from gridgov.assessments.rules import rule_table
    from gridgov.domain.calendar import Duration
    from gridgov.domain.enums import TimeUnit
    from gridgov.domain.officetime import clock_for, span_us
    from gridgov.item_catalog.loader import load_catalog
    from gridgov.runtime import build_runtime
    from gridgov.settings import Settings

    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    cal = build_runtime(Settings(database_url="sqlite://"), catalog).calendar
    first = (END - timedelta(days=31 * months)).astimezone(TZ).date().replace(day=1)
    last = (END - timedelta(days=1)).date()
    items = sorted(
        (i for i in catalog.items if i.valid_on(first) and i.valid_on(last)),
        key=lambda i: i.code,
    )
    depts = sorted({i.lead_department for i in items} - {"COMMUNITY"})
    grids = sorted(u.code for u in catalog.territory.values() if u.kind == "grid")
    parent = {u.code: u.parent for u in catalog.territory.values()}
    sources = ["patrol", "citizen", "ai_camera", "iot_sensor", "hotline"]

    # Which item: tier 1 30 %, tier 2 40 %, tier 3 30 % of cases.
    tiers = np.array([int(i.tier) for i in items])
    tier = rng.choice([1, 2, 3], size=n, p=[0.3, 0.4, 0.3])
    item = np.empty(n, dtype=np.int64)
    for t in (1, 2, 3):
        pool = np.flatnonzero(tiers == t)
        m = tier == t
        item[m] = rng.choice(pool, size=int(m.sum()))
    src_of = [[sources.index(s.value) for s in i.sources] for i in items]
    pick = rng.integers(0, 1 << 30, size=n)
    nsrc = np.array([len(s) for s in src_of])[item]
    src_table = np.full((len(items), 5), -1)
    for k, s in enumerate(src_of):
        src_table[k, : len(s)] = s
    source = src_table[item, pick % nsrc]
    grid = rng.integers(0, len(grids), size=n)
    lead = np.array([depts.index(i.lead_department) if i.lead_department in depts else -1
                     for i in items])  # fmt: skip
    dept = np.where(tier == 3, lead[item], -1)  # -1: the community's own team

    # Opened: a uniform day of the period, between 07:00 and 22:00 local.
    days = (last - first).days + 1
    midnight = np.array(
        [int(datetime.combine(first + timedelta(d), datetime.min.time(), TZ).timestamp())
         for d in range(days)]
    )  # fmt: skip
    t_open = midnight[rng.integers(0, days, size=n)] + rng.integers(7 * HOUR, 22 * HOUR, size=n)
    t_open.sort()  # case ids in opening order, like the real ledger
    order = np.argsort(rng.random(n))  # shuffle attributes against time
    tier, item, source, grid, dept = (
        tier[order],
        item[order],
        source[order],
        grid[order],
        dept[order],
    )

    u = rng.random((12, n))
    dispatched = tier >= 2
    cancelled = u[0] < 0.01
    returned = (tier == 3) & (u[1] < 0.04) & ~cancelled
    extension = (tier == 3) & (u[2] < 0.03) & ~cancelled
    granted = extension & (u[3] < 0.8)
    horizon = int(END.timestamp())
    still_open = ((u[4] < 0.02) | (t_open > horizon - 2 * 86400)) & ~cancelled
    rework = (tier >= 2) & (u[5] < 0.05) & ~cancelled & ~still_open
    spot = (tier == 1) & (u[6] < 0.2)
    callback = np.isin(source, [1, 4]) & ~cancelled & ~still_open  # citizen, hotline
    rating = np.where(u[7] < 0.85, 0, np.where(u[7] < 0.97, 1, 2))  # sat, basic, unsat
    reminded = (tier >= 2) & (u[8] < 0.10) & ~cancelled
    dept2 = np.where(returned, (dept + 1 + rng.integers(0, len(depts) - 1, size=n)) % len(depts),
                     dept)  # fmt: skip

    def mins(lo: float, hi: float) -> np.ndarray:
        return (rng.uniform(lo, hi, size=n) * MIN).astype(np.int64)

    t_dispatch = t_open + mins(0, 10)
    t_return = t_dispatch + mins(5, 40)
    t_reroute = t_return + mins(10, 60)
    t_start = np.where(returned, t_reroute, np.where(dispatched, t_dispatch, t_open))
    t_cancel = t_dispatch + mins(20, 60)
    t_ack = t_start + (rng.exponential(40, size=n) * MIN).astype(np.int64) + MIN
    t_arrive = t_ack + mins(20, 180)
    t_ext_req = t_arrive + 30 * MIN
    t_ext_dec = t_ext_req + 30 * MIN
    before_handling = np.where(extension, t_ext_dec, np.where(tier == 3, t_arrive, t_ack))
    work = (rng.lognormal(np.log(3), 1.0, size=n) * HOUR).astype(np.int64)
    t_handled = np.where(tier == 1, t_open + mins(2, 15), before_handling + work + MIN)
    t_remind = (before_handling + t_handled) // 2
    t_fail = t_handled + HOUR
    t_handled2 = t_fail + mins(60, 360)
    final_handled = np.where(rework, t_handled2, t_handled)
    reviewed = (tier >= 2) | spot
    callback &= reviewed  # a field fix closed straight from 'handled' gets no callback
    t_review = final_handled + mins(10, 120)
    t_rated = t_review + mins(60, 24 * 60)
    t_closed = np.where(callback, t_rated, np.where(reviewed, t_review, final_handled + 5 * MIN))

    # Deadlines from the catalogue with the working-time calendar.

    table = rule_table(
        pd.DataFrame(
            {"code": [i.code for i in items], "version": [i.version for i in items],
             "deadlines": [i.deadlines.model_dump(mode="json") for i in items]}
        ),
        cal,
    )  # fmt: skip
    us = 1_000_000
    ext_span = span_us(cal, Duration(8, TimeUnit.WORKING_HOURS))  # every grant: 8 wh
    spans = [int(table[f"{x}_span"].max()) for x in ("acknowledge", "arrive", "handle", "review")]
    clock = clock_for(cal, int(t_open.min()) * us, int(t_rated.max()) * us,
                      sum(spans) + ext_span)  # fmt: skip

    def due(start: np.ndarray, limit: str) -> np.ndarray:
        span = table[f"{limit}_span"].to_numpy()[item]
        working = table[f"{limit}_working"].to_numpy()[item]
        out = np.full(n, -1, dtype=np.int64)
        ok = span >= 0
        out[ok] = clock.deadline(start[ok] * us, span[ok], working[ok]) // us
        return out

    anchor = t_start  # the last dispatch or re-route (the report for tier 1)
    ack_due = due(anchor, "acknowledge")
    arrive_due = due(anchor, "arrive")
    handle_due = due(np.where(rework, t_fail, anchor), "handle")
    g = granted & ~rework & (handle_due >= 0)  # a rework restarts the limit: no extension
    handle_due[g] = clock.deadline(handle_due[g] * us, np.full(int(g.sum()), ext_span),
                                   np.ones(int(g.sum()), dtype=bool)) // us  # fmt: skip
    review_due = due(final_handled, "review")

    # Seq numbers: the steps in trail order; a step's seq = 1 + steps present before it.
    steps = [
        ("created", np.ones(n, dtype=bool)),
        ("dispatched", dispatched),
        ("returned", returned),
        ("rerouted", returned),
        ("cancelled", cancelled),
        ("acknowledged", dispatched & ~cancelled),
        ("arrived", (tier == 3) & ~cancelled),
        ("extension_requested", extension),
        ("extension_decided", extension),
        ("reminded", reminded),
        ("handled", ~cancelled & ~still_open),
        ("review_failed", rework),  # with its review_started
        ("handled2", rework),
        ("review_passed", reviewed & ~cancelled & ~still_open),  # with its review_started
        ("rated", callback),
        ("closed", ~cancelled & ~still_open),
    ]
    present: dict[str, np.ndarray] = {}
    seq = np.zeros(n, dtype=np.int64)
    seqs: dict[str, np.ndarray] = {}
    for name, mask in steps:
        width = 2 if name in ("review_failed", "review_passed") else 1  # review_started first
        present[name] = mask
        seqs[name] = seq + 1
        seq = seq + mask * width
    plan = {
        "case_id": np.arange(1, n + 1), "tier": tier, "item": item, "source": source,
        "grid": grid, "dept": dept, "dept2": dept2, "rating": rating, "spot": spot.astype(int),
        "n_events": seq,
        "status": np.select(
            [cancelled, still_open & (tier == 1), still_open & (tier == 2), still_open],
            [0, 1, 4, 2], default=3,
        ),
        "t_open": t_open, "t_dispatch": t_dispatch, "t_return": t_return,
        "t_reroute": t_reroute, "t_cancel": t_cancel, "t_ack": t_ack, "t_arrive": t_arrive,
        "t_ext_req": t_ext_req, "t_ext_dec": t_ext_dec, "t_remind": t_remind,
        "t_handled": t_handled, "t_fail": t_fail, "t_handled2": t_handled2,
        "t_review": t_review, "t_rated": t_rated, "t_closed": t_closed,
        "final_handled": final_handled, "granted": granted.astype(int),
        "ack_due": ack_due, "arrive_due": arrive_due, "handle_due": handle_due,
        "review_due": review_due,
        **{f"p_{k}": v.astype(int) for k, v in present.items()},
        **{f"s_{k}": v for k, v in seqs.items()},
    }  # fmt: skip
    lookups = {
        "items": [f"{i.code}|{i.version}|{i.name_zh}|{i.category}|{int(i.tier)}|{i.lead_department}"
                  for i in items],
        "depts": depts, "grids": [f"{g}|{parent[g]}|{parent[parent[g]]}" for g in grids],
        "sources": sources,
    }  # fmt: skip
    return plan, lookups


def _ts(col: str) -> str:
    """Plan seconds → the ledger's SQLite timestamp text (naive UTC, microseconds)."""
    return f"strftime('%Y-%m-%d %H:%M:%S', {col}, 'unixepoch') || '.000000'"


def _opt_ts(col: str) -> str:
    return f"CASE WHEN {col} >= 0 THEN {_ts(col)} END"


def load(db: Path, n: int, months: int, seed: int) -> None:
    from gridgov.runtime import build_runtime
    from gridgov.settings import Settings

    t0 = time.perf_counter()
    rt = build_runtime(Settings(database_url=f"sqlite:///{db}"))
    rt.init_ledger()  # migrate + catalogue
    rt.engine.dispose()
    plan, lk = _plan(n, months, seed)
    t_plan = time.perf_counter() - t0
    con = sqlite3.connect(db)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY",
                   "cache_size=-600000", "foreign_keys=OFF"):  # fmt: skip
        con.execute(f"PRAGMA {pragma}")
    cols = list(plan)
    con.execute(f"CREATE TEMP TABLE plan ({', '.join(c + ' INTEGER' for c in cols)})")
    rows = zip(*(plan[c].tolist() for c in cols), strict=True)
    con.executemany(f"INSERT INTO plan VALUES ({', '.join('?' * len(cols))})", rows)
    con.execute("CREATE TEMP TABLE li (i INTEGER PRIMARY KEY, code, version, name, category, "
                "tier, lead)")  # fmt: skip
    con.executemany("INSERT INTO li VALUES (?,?,?,?,?,?,?)",
                    [(k, *s.split("|")) for k, s in enumerate(lk["items"])])  # fmt: skip
    con.execute("CREATE TEMP TABLE ld (i INTEGER PRIMARY KEY, code)")
    con.executemany("INSERT INTO ld VALUES (?,?)", list(enumerate(lk["depts"])))
    con.execute("INSERT INTO ld VALUES (-1, 'COMMUNITY')")
    con.execute("CREATE TEMP TABLE lg (i INTEGER PRIMARY KEY, grid, community, street)")
    con.executemany("INSERT INTO lg VALUES (?,?,?,?)",
                    [(k, *s.split("|")) for k, s in enumerate(lk["grids"])])  # fmt: skip
    con.execute("CREATE TEMP TABLE ls (i INTEGER PRIMARY KEY, name)")
    con.executemany("INSERT INTO ls VALUES (?,?)", list(enumerate(lk["sources"])))
    t_rows = time.perf_counter() - t0 - t_plan
    _insert_cases(con)
    _insert_events(con)
    con.commit()
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("ANALYZE")
    con.close()
    n_events = sqlite3.connect(db).execute("SELECT count(*) FROM case_events").fetchone()[0]
    total = time.perf_counter() - t0
    print(
        f"  load: {n:,} cases, {n_events:,} events in {total:.1f} s (plan {t_plan:.1f} s, "
        f"plan rows {t_rows:.1f} s, SQL inserts {total - t_plan - t_rows:.1f} s); "
        f"{db.stat().st_size / 1e9:.2f} GB file; loader peak RSS {peak_rss_mb():.0f} MB"
    )


FROM = (
    "FROM plan p JOIN li ON li.i = p.item JOIN lg ON lg.i = p.grid "
    "JOIN ld d1 ON d1.i = p.dept JOIN ld d2 ON d2.i = p.dept2 JOIN ls ON ls.i = p.source"
)
STATUS = (
    "CASE p.status WHEN 0 THEN 'cancelled' WHEN 1 THEN 'reported' WHEN 2 THEN 'in_progress' "
    "WHEN 4 THEN 'acknowledged' ELSE 'closed' END"
)
HOLDER = "CASE WHEN p.p_returned = 1 THEN d2.code ELSE d1.code END"


def _insert_cases(con: sqlite3.Connection) -> None:
    done = "p.status = 3"
    con.execute(f"""
        INSERT INTO cases (id, case_no, item_code, item_version, item_name, tier, category,
            status, source, reporter, description, media, street_code, community_code,
            grid_code, lead_department, assisting, assignee, opened_at, dispatched_at,
            acknowledged_at, arrived_at, handled_at, closed_at, updated_at, acknowledge_due,
            arrive_due, handle_due, review_due, ladder_done, overdue, rework_count,
            return_count, extension_count, extension_pending, spot_check, rating,
            repeat_count, row_version)
        SELECT p.case_id, printf('C%s-%06d', strftime('%Y%m%d', p.t_open + 28800, 'unixepoch'),
                p.case_id % 1000000),
            li.code, li.version, li.name, p.tier, li.category, {STATUS}, ls.name,
            'r-' || lg.grid, '', '[]', lg.street, lg.community, lg.grid, li.lead, '[]',
            {HOLDER}, {_ts("p.t_open")},
            CASE WHEN p.p_dispatched = 1 THEN {_ts("p.t_dispatch")} END,
            CASE WHEN p.p_acknowledged = 1 THEN {_ts("p.t_ack")} END,
            CASE WHEN p.p_arrived = 1 THEN {_ts("p.t_arrive")} END,
            CASE WHEN p.p_handled = 1 THEN {_ts("p.final_handled")} END,
            CASE WHEN {done} THEN {_ts("p.t_closed")} END,
            {_ts("max(p.t_open, p.t_closed * (p.status = 3), p.t_cancel * (p.status = 0))")},
            {_opt_ts("p.ack_due")}, {_opt_ts("p.arrive_due")}, {_opt_ts("p.handle_due")},
            CASE WHEN p.p_handled = 1 THEN {_opt_ts("p.review_due")} END,
            0, 0, p.p_review_failed, p.p_returned, p.granted, 0,
            CASE WHEN p.tier = 1 THEN p.spot END,
            CASE WHEN p.p_rated = 1 THEN CASE p.rating WHEN 0 THEN 'satisfied'
                WHEN 1 THEN 'basically_satisfied' ELSE 'unsatisfied' END END, 1, 1
        {FROM} ORDER BY p.case_id""")


def _insert_events(con: sqlite3.Connection) -> None:
    """One INSERT … SELECT per step of the trail."""
    officer = "'o-' || {d}.code || '-' || (p.case_id % 20)"
    team = "'team-' || lg.community"
    patroller = "'p-' || lg.grid"
    handler = f"CASE WHEN p.tier = 3 THEN {officer.format(d='d2')} ELSE {team} END"
    hrole = "CASE WHEN p.tier = 3 THEN 'department' ELSE 'community' END"
    hdept = "CASE WHEN p.tier = 3 THEN d2.code END"
    hcomm = "CASE WHEN p.tier = 3 THEN NULL ELSE lg.community END"
    rating = ("CASE p.rating WHEN 0 THEN 'satisfied' WHEN 1 THEN 'basically_satisfied' "
              "ELSE 'unsatisfied' END")  # fmt: skip
    working = "CASE WHEN p.tier = 3 THEN 'in_progress' ELSE 'acknowledged' END"
    before_fix = f"CASE WHEN p.tier = 1 THEN 'reported' ELSE {working} END"
    # A field fix not drawn for a spot check closes straight from 'handled'.
    closing = "CASE WHEN p.tier = 1 AND p.spot = 0 THEN 'handled' ELSE 'evaluating' END"
    # (step, seq column, time, actor, role, department, community, from, to, payload)
    steps = [
        ("created", "s_created", "t_open",
         f"CASE WHEN p.source IN (1, 4) THEN 'citizen-' || p.case_id ELSE {patroller} END",
         "CASE WHEN p.source IN (1, 4) THEN 'citizen' ELSE 'patroller' END", "NULL", "NULL",
         "NULL", "'reported'", "'{}'"),
        ("dispatched", "s_dispatched", "t_dispatch", "'centre'", "'dispatcher'", "NULL", "NULL",
         "'reported'", "'dispatched'", "json_object('department', d1.code)"),
        ("returned", "s_returned", "t_return", officer.format(d="d1"), "'department'", "d1.code",
         "NULL", "'dispatched'", "'returned'", "json_object('department', d1.code)"),
        ("rerouted", "s_rerouted", "t_reroute", "'centre'", "'dispatcher'", "NULL", "NULL",
         "'returned'", "'dispatched'", "json_object('department', d2.code)"),
        ("cancelled", "s_cancelled", "t_cancel", "'centre'", "'dispatcher'", "NULL", "NULL",
         "CASE WHEN p.p_dispatched = 1 THEN 'dispatched' ELSE 'reported' END", "'cancelled'",
         "'{\"reason\": \"duplicate\"}'"),
        ("acknowledged", "s_acknowledged", "t_ack", handler, hrole, hdept, hcomm,
         "'dispatched'", "'acknowledged'", "'{}'"),
        ("arrived", "s_arrived", "t_arrive", handler, hrole, hdept, hcomm,
         "'acknowledged'", "'in_progress'", "'{}'"),
        ("extension_requested", "s_extension_requested", "t_ext_req", handler, hrole, hdept,
         hcomm, "'in_progress'", "'in_progress'",
         "'{\"amount\": 8, \"unit\": \"working_hours\", \"reason\": \"parts\"}'"),
        ("extension_decided", "s_extension_decided", "t_ext_dec", "'centre'", "'dispatcher'",
         "NULL", "NULL", "'in_progress'", "'in_progress'",
         "CASE WHEN p.granted = 1 THEN '{\"amount\": 8, \"unit\": \"working_hours\"}' "
         "ELSE '{\"reason\": \"no\"}' END"),
        ("reminded", "s_reminded", "t_remind", "'gridgov'", "'system'", "NULL", "NULL",
         working, working, "'{}'"),
        ("handled", "s_handled", "t_handled",
         f"CASE WHEN p.tier = 1 THEN {patroller} ELSE {handler} END",
         f"CASE WHEN p.tier = 1 THEN 'patroller' ELSE {hrole} END", hdept, hcomm,
         before_fix, "'handled'", "'{\"evidence\": [\"photo\"]}'"),
        ("review_started", "s_review_failed", "t_fail", "'gridgov'", "'system'", "NULL", "NULL",
         "'handled'", "'under_review'", "'{}'"),
        ("review_failed", "s_review_failed + 1", "t_fail", "'reviewer'", "'reviewer'", "NULL",
         "NULL", "'under_review'", "'rework'", "'{\"reason\": \"not fixed\"}'"),
        ("handled", "s_handled2", "t_handled2", handler, hrole, hdept, hcomm, "'rework'",
         "'handled'", "'{\"evidence\": [\"photo\"]}'"),
        ("review_started", "s_review_passed", "t_review", "'gridgov'", "'system'", "NULL",
         "NULL", "'handled'", "'under_review'", "'{}'"),
        ("review_passed", "s_review_passed + 1", "t_review", "'reviewer'", "'reviewer'", "NULL",
         "NULL", "'under_review'", "'evaluating'", "'{}'"),
        ("rated", "s_rated", "t_rated", "'citizen-' || p.case_id", "'citizen'", "NULL", "NULL",
         "'evaluating'", "'evaluating'", f"json_object('rating', {rating})"),
        ("closed", "s_closed", "t_closed", "'gridgov'", "'system'", "NULL", "NULL",
         closing, "'closed'", "'{}'"),
    ]  # fmt: skip
    for kind, seq, t, actor, role, dept, comm, frm, to, payload in steps:
        flag = seq.split()[0].replace("s_", "p_")
        kind_sql = f"'{kind}'"
        if kind == "extension_decided":
            kind_sql = (
                "CASE WHEN p.granted = 1 THEN 'extension_granted' ELSE 'extension_refused' END"
            )
        con.execute(f"""
            INSERT INTO case_events (case_id, seq, kind, actor, role, department, community,
                at, recorded_at, from_status, to_status, payload, idempotency_key)
            SELECT p.case_id, p.{seq}, {kind_sql}, {actor}, {role}, {dept}, {comm},
                {_ts("p." + t)}, {_ts("p." + t)}, {frm}, {to}, {payload},
                'b' || p.case_id || '.' || (p.{seq})
            {FROM} WHERE p.{flag} = 1""")


# ------------------------------------------------------------------------------ measuring
def baseline(db: Path) -> tuple[float, dict[str, int]]:
    """The same headline counts with read_sql + groupby, no counting rules beyond the
    obvious ones (due: closed in the month or due in it; on time: handled by the due)."""
    from sqlalchemy import create_engine

    from gridgov.assessments.period import Month, Window

    w = Window.of(Month.parse(MONTH), TZ, datetime(2026, 11, 23, tzinfo=UTC))
    start = w.start.replace(tzinfo=None).isoformat(" ", "microseconds")
    end = w.end.replace(tzinfo=None).isoformat(" ", "microseconds")
    t0 = time.perf_counter()
    eng = create_engine(f"sqlite:///{db}")
    with eng.connect() as conn:
        cases = pd.read_sql(
            "SELECT id, assignee, community_code, status, handled_at, closed_at, handle_due "
            "FROM cases WHERE opened_at < :end AND (closed_at IS NULL OR closed_at >= :start)",
            conn, params={"start": start, "end": end},
        )  # fmt: skip
        events = pd.read_sql(
            "SELECT case_id, kind, department, at FROM case_events "
            "WHERE at >= :start AND at < :end AND kind IN ('dispatched', 'acknowledged', "
            "'returned', 'rerouted', 'handled', 'review_failed', 'reopened', 'rated', "
            "'extension_requested', 'extension_granted', 'extension_refused', 'closed')",
            conn, params={"start": start, "end": end},
        )  # fmt: skip
    for c in ("handled_at", "closed_at", "handle_due"):
        cases[c] = pd.to_datetime(cases[c], format="ISO8601")
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    closed = cases["closed_at"].between(s, e, inclusive="left")
    due = closed | cases["handle_due"].between(s, e, inclusive="left")
    cases = cases[due & (cases["status"] != "cancelled")]
    on_time = closed[due] & (cases["handled_at"] <= cases["handle_due"])
    overdue = (cases["handled_at"] > cases["handle_due"]) | (
        cases["handled_at"].isna() & (cases["handle_due"] < e)
    )
    by_dept = pd.DataFrame(
        {"assignee": cases["assignee"], "due": 1, "closed": closed[due], "on_time": on_time,
         "overdue": overdue}
    ).groupby("assignee").sum()  # fmt: skip
    by_comm = cases.groupby("community_code").size()
    ev = events.groupby(["department", "kind"]).size()
    took = time.perf_counter() - t0
    return took, {"due": int(by_dept["due"].sum()), "closed": int(by_dept["closed"].sum()),
                  "on_time": int(by_dept["on_time"].sum()), "communities": len(by_comm),
                  "event groups": len(ev)}  # fmt: skip


def measure(db: Path, reports: bool, audit: bool) -> None:
    from gridgov.assessments.engine import assess
    from gridgov.assessments.period import Month
    from gridgov.assessments.scheme import load_scheme
    from gridgov.runtime import build_runtime
    from gridgov.settings import Settings

    rt = build_runtime(Settings(database_url=f"sqlite:///{db}"))
    now = datetime(2026, 11, 23, tzinfo=UTC)
    scheme = load_scheme()
    base_rss = peak_rss_mb()
    t0 = time.perf_counter()
    a = assess(rt.engine, rt.calendar, Month.parse(MONTH), scheme, now=now)
    took = time.perf_counter() - t0
    rss = peak_rss_mb()
    t = a.totals
    stages = ", ".join(f"{k} {v:.2f}" for k, v in a.timings.items())
    print(
        f"  assessment {MONTH}: {took:.2f} s ({stages}); {t['due']:,.0f} cases due, "
        f"{t['closed']:,.0f} closed, {t['overdue']:,.0f} overdue, {t['staff']:,.0f} staff; "
        f"peak RSS {rss:.0f} MB (imports alone {base_rss:.0f} MB)"
    )
    if reports:
        from gridgov.assessments.reports import write_reports

        t1 = time.perf_counter()
        out = Path(tempfile.mkdtemp(prefix="gridgov-bench-reports-"))
        write_reports(a, out)
        print(
            f"  reports (CSV, XLSX, HTML with 5 charts): {time.perf_counter() - t1:.2f} s in {out}"
        )
    del a
    b_took, b = baseline(db)
    print(
        f"  plain pandas baseline (read_sql + groupby of due/closed/on-time/overdue per "
        f"department and event counts): {b_took:.2f} s ({b['due']:,} due, {b['closed']:,} "
        f"closed)"
    )
    print(f"  ratio assessment / baseline: {took / b_took:.2f}")
    ok = took < 10 and rss < 2048
    print(f"  target < 10 s and < 2 GB: {'met' if ok else 'MISSED'}")
    if audit:
        from gridgov.assessments.audit.runner import run_audit

        t2 = time.perf_counter()
        rep = run_audit(rt.engine, rt.calendar, Month.parse(MONTH), now=now)
        ge = rep.timings["great expectations"]
        print(
            f"  audit: {time.perf_counter() - t2:.2f} s for {rep.rows['cases']:,} cases and "
            f"{rep.rows['events']:,} events; Great Expectations {ge:.2f} s for "
            f"{len(rep.results)} expectations ({1000 * ge / len(rep.results):.0f} ms each); "
            f"{len(rep.failed)} failed: {[r.check for r in rep.failed]}"
        )
    print(f"  peak RSS of this process: {peak_rss_mb():.0f} MB")


def measure_one(url: str, via: str, scan_readers: int | None = None) -> None:
    """In a child process: one assessment of October reading ``via``; one JSON line out."""
    import json

    import gridgov.assessments.extract as extract_mod

    if scan_readers:
        extract_mod.SCAN_READERS = scan_readers
    import gridgov.assessments.columnar as columnar
    import gridgov.assessments.engine as engine_mod
    from gridgov.assessments.engine import assess
    from gridgov.assessments.extract import read_ledger
    from gridgov.assessments.period import Month
    from gridgov.assessments.scheme import load_scheme
    from gridgov.runtime import build_runtime
    from gridgov.settings import Settings

    engine_mod.read_ledger = lambda e, w: read_ledger(e, w, via=via)  # type: ignore[assignment]
    # CPU seconds per stage next to the wall clock: on the shared machine (load 5-12 on 2
    # cores) wall time is mostly waiting for a core; CPU time compares runs across loads.
    cpu: dict[str, float] = {}
    stage = engine_mod._stage

    @contextmanager
    def timed(name: str, **kw: Any) -> Iterator[None]:
        c0 = _cpu()
        with stage(name, **kw):
            yield
        cpu[name] = _cpu() - c0

    engine_mod._stage = timed  # type: ignore[assignment]
    # How many SQLite reader processes read at once (a scan: extract.SCAN_READERS); the
    # children's peak RSS below is the largest one's (getrusage), so the sum over every
    # process is at most this process's + readers x that.
    readers = [0]
    pinned = columnar._pinned

    def counted(db: str, n: int) -> list[columnar.SqliteChild]:
        children = pinned(db, n)
        readers[0] = max(readers[0], len(children))
        return children

    columnar._pinned = counted  # type: ignore[assignment]
    rt = build_runtime(Settings(database_url=url))
    scheme = load_scheme()
    t0, c0 = time.perf_counter(), _cpu()
    a = assess(rt.engine, rt.calendar, Month.parse(MONTH), scheme,
               now=datetime(2026, 11, 23, tzinfo=UTC))  # fmt: skip
    took, took_cpu = time.perf_counter() - t0, _cpu() - c0
    print(json.dumps({"took": took, "cpu": took_cpu, "rss": peak_rss_mb(), "stages": a.timings,
                      "stages_cpu": cpu, "child_rss": peak_rss_mb(resource.RUSAGE_CHILDREN),
                      "readers": readers[0],
                      "totals": {k: repr(v) for k, v in a.totals.items()}}))  # fmt: skip


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the SQLite reader)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def compare_reads(url: str, label: str, scan_readers: int | None = None) -> None:
    """The new read against the old, each in a fresh child, same run."""
    import json

    runs = {}
    readers = ["--scan-readers", str(scan_readers)] if scan_readers else []
    for via in ("arrow", "driver"):
        done = subprocess.run(
            [sys.executable, __file__, "--measure-one", via, "--url", url, *readers],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            sys.exit(f"  {label}, read via {via} failed:\n{done.stderr[-3000:]}")
        runs[via] = r = json.loads(done.stdout.strip().splitlines()[-1])
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in r["stages_cpu"].items())
        n = r["readers"]
        processes = (
            f"{n} SQLite reader processes at once, the largest {r['child_rss']:.0f} MB; all "
            f"processes at most {r['rss'] + n * r['child_rss']:.0f} MB"
            if n
            else "no reader process"
        )
        print(
            f"  {label}, read via {via}: {r['took']:.2f} s ({stages}); CPU {r['cpu']:.2f} s "
            f"({cpu}; the read's CPU includes the SQLite reader processes); peak RSS "
            f"{r['rss']:.0f} MB ({processes})"
        )
    new, old = runs["arrow"], runs["driver"]
    same = new["totals"] == old["totals"]
    print(
        f"  {label}: new/old time {new['took'] / old['took']:.2f}, read stage "
        f"{new['stages']['read ledger'] / old['stages']['read ledger']:.2f}; KPI totals "
        f"{'identical' if same else 'DIFFER'}; load average {os.getloadavg()[0]:.1f}"
    )
    total = new["rss"] + new["readers"] * new["child_rss"]
    ok = new["took"] < 10 and total < 2048
    print(f"  {label}: target < 10 s and < 2 GB (all processes): {'met' if ok else 'MISSED'}")


def copy_to_postgres(db: Path, pg_url: str, prefix: str = "bench_") -> str:
    """A fresh schema in ``pg_url`` holding the SQLite ledger (migrated, catalogue, then the
    cases and events by COPY); returns its URL."""
    import csv
    import io
    import uuid

    from sqlalchemy import create_engine, make_url, text

    from gridgov.runtime import build_runtime
    from gridgov.settings import Settings

    schema = f"{prefix}{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    url_s = url.render_as_string(hide_password=False)
    rt = build_runtime(Settings(database_url=url_s))
    rt.init_ledger()
    t0 = time.perf_counter()
    src = sqlite3.connect(db)
    raw = rt.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET session_replication_role = replica")  # no triggers, no FK checks
        cur.execute("SET TIME ZONE 'UTC'")  # SQLite's timestamps are naive UTC
        for table in ("cases", "case_events"):
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            pg_cols = {r[0] for r in rt.engine.connect().execute(text(
                "select column_name from information_schema.columns "
                f"where table_schema = '{schema}' and table_name = '{table}'"))}  # fmt: skip
            cols = [c for c in cols if c in pg_cols]
            bools = {r[0] for r in rt.engine.connect().execute(text(
                "select column_name from information_schema.columns where table_schema = "
                f"'{schema}' and table_name = '{table}' and data_type = 'boolean'"))}  # fmt: skip
            sel = ", ".join(
                f"CASE {c} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END" if c in bools else c
                for c in cols
            )
            rows = src.execute(f"SELECT {sel} FROM {table}")
            copy = f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT csv, NULL '\\N')"
            with cur.copy(copy) as cp:
                while chunk := rows.fetchmany(100_000):
                    buf = io.StringIO()
                    csv.writer(buf).writerows(
                        [["\\N" if v is None else v for v in r] for r in chunk]
                    )
                    cp.write(buf.getvalue())
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"
        )
        raw.commit()
        cur.execute("ANALYZE cases")
        cur.execute("ANALYZE case_events")
        raw.commit()
    finally:
        raw.close()
        rt.engine.dispose()
    print(f"  copied the ledger to PostgreSQL schema {schema} in {time.perf_counter() - t0:.1f} s")
    return url_s


def drop_schema(pg_url: str, url_s: str) -> None:
    from sqlalchemy import create_engine, make_url, text

    schema = make_url(url_s).query["options"].split("=", 1)[1]
    with create_engine(pg_url).begin() as conn:
        conn.execute(text(f'drop schema "{schema}" cascade'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=12, help="spread over this many months")
    ap.add_argument("--db", type=Path, help="reuse this ledger file (created if missing)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--reports", action="store_true", help="also time CSV/XLSX/HTML")
    ap.add_argument("--audit", action="store_true", help="also time the audit")
    ap.add_argument("--postgres", help="also compare on a copy in this PostgreSQL database")
    ap.add_argument("--schema-prefix", default="bench_", help="of the PostgreSQL copy's schema")
    ap.add_argument(
        "--scan-readers", type=int, help="SQLite reader processes of a scan (default: the code's)"
    )
    ap.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--measure-one", choices=("arrow", "driver"), help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure_one:
        measure_one(args.url, args.measure_one, args.scan_readers)
        return
    db: Path = args.db or Path(tempfile.mkdtemp(prefix="gridgov-bench-")) / "ledger.sqlite3"
    if args.load_only:
        load(db, args.cases, args.months, args.seed)
        return
    print(f"ledger {db}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    if not db.exists():
        subprocess.run(
            [sys.executable, __file__, "--load-only", "--db", str(db), "--cases",
             str(args.cases), "--months", str(args.months), "--seed", str(args.seed)],
            check=True,
        )  # fmt: skip
    compare_reads(f"sqlite:///{db}", "SQLite", args.scan_readers)
    if args.postgres:
        url = copy_to_postgres(db, args.postgres, args.schema_prefix)
        try:
            compare_reads(url, "PostgreSQL", args.scan_readers)
        finally:
            drop_schema(args.postgres, url)
    measure(db, args.reports, args.audit)


if __name__ == "__main__":
    main()
