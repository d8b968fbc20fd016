"""Importing history into the ledger, on SQLite and PostgreSQL: mapping, deadlines, trails,
idempotent re-import, updates as appended events, and every reject reason."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text as sa_text

from gridgov.exchange.importer import Importer
from gridgov.exchange.mapping import parse_mapping
from gridgov.exchange.readers import json_lines, open_file
from gridgov.exchange.rejects import Reason
from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings
from tests.conftest import CASE_TABLES, at
from tests.test_import_support import (
    FIXTURES,
    NOW,
    case,
    counts,
    local,
    mapping,
    run,
    trail,
)


def _by_id(rejects: list[dict[str, str]]) -> dict[str, tuple[str, str, str]]:
    return {r["source_id"]: (r["line"], r["field"], r["reason"]) for r in rejects}


def test_gbk_city_management_export_imports_and_rejects(runtime: Runtime, tmp_path: Path) -> None:
    summary, rejects = run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    assert (summary.read, summary.imported, summary.updated) == (18, 9, 0)
    assert summary.unchanged == 1  # the second, identical copy of SZ-0011
    assert _by_id(rejects) == {
        "SZ-0006": ("7", "closed", "closed_before_created"),
        "SZ-0007": ("8", "created", "bad_date"),
        "SZ-0008": ("9", "type", "unknown_type"),
        "SZ-0009": ("10", "department", "unknown_department"),
        "SZ-0014": ("17", "status", "unknown_status"),
        "SZ-0015": ("18", "community", "unknown_place"),
        "SZ-0010": ("12", "id", "duplicate_id"),
    }
    assert sorted(r["line"] for r in rejects if r["source_id"] == "SZ-0010") == ["11", "12"]
    assert summary.rejected == {
        "closed_before_created": 1,
        "bad_date": 1,
        "unknown_type": 1,
        "unknown_department": 1,
        "unknown_status": 1,
        "unknown_place": 1,
        "duplicate_id": 2,
    }
    # Rejected rows leave nothing behind.
    assert counts(runtime)[0] == 9
    for sid in ("SZ-0006", "SZ-0010", "SZ-0014"):
        assert not trail(runtime, sid)


def test_catalogue_deadline_in_working_time_around_the_holiday(
    runtime: Runtime, tmp_path: Path
) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    c = case(runtime, "SZ-0001")  # 暴露垃圾, 4 working hours, reported 17:00 on 30 September
    assert (c.item_code, c.item_version, c.tier, c.deadline_source) == (
        "SJ-SR-001",
        1,
        3,
        "catalog",
    )
    assert local(c.opened_at) == at(2026, 9, 30, 17)
    assert local(c.handle_due) == at(2026, 10, 8, 11, 30)  # 1–7 October are holidays
    assert local(c.acknowledge_due) == at(2026, 9, 30, 18)  # 1 working hour: the day's last
    assert c.status == "closed" and local(c.closed_at) == at(2026, 10, 8, 10)
    assert c.handled_at == c.closed_at and c.overdue is False
    assert (c.assignee, c.lead_department, c.street_code) == ("CG", "CG", "GM-GM")
    assert c.case_no.startswith("C20260930-") and c.source == "patrol"
    assert c.next_sweep_at is None and c.clock_kind is None  # closed: not supervised
    assert (c.source_system, c.reporter, c.grid_code) == ("szcg-gm", "张三", "GM-GM-GUANGMING-G01")


def test_source_deadline_is_kept_and_late_closure_is_overdue(
    runtime: Runtime, tmp_path: Path
) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    c = case(runtime, "SZ-0002")
    assert c.deadline_source == "source" and local(c.handle_due) == at(2026, 10, 9, 12)
    assert local(c.closed_at) == at(2026, 10, 9, 15) and c.overdue is True
    assert local(c.overdue_since) == at(2026, 10, 9, 12)


def test_item_version_in_force_on_the_created_day(runtime: Runtime, tmp_path: Path) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    before, after = case(runtime, "SZ-0004"), case(runtime, "SZ-0005")  # 路灯 v2 from 1 July
    assert (before.item_version, after.item_version) == (1, 2)
    assert local(before.handle_due) == at(2026, 7, 3, 10)  # v1: 3 working days
    assert local(after.handle_due) == at(2026, 7, 3, 10)  # v2: 2 working days from 1 July


def test_trails_are_history_written_by_the_importer(runtime: Runtime, tmp_path: Path) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    t = trail(runtime, "SZ-0001")
    assert [(e.seq, e.kind, e.from_status, e.to_status) for e in t] == [
        (1, "created", None, "reported"),
        (2, "dispatched", "reported", "dispatched"),
        (3, "handled", "dispatched", "handled"),
        (4, "closed", "handled", "closed"),
    ]
    assert {(e.role, e.actor) for e in t} == {("system", "import:szcg-gm")}
    assert [e.idempotency_key for e in t] == [
        f"import:szcg-gm:SZ-0001:{k}" for k in ("created", "dispatched", "handled", "closed")
    ]
    assert [local(e.at) for e in t] == [at(2026, 9, 30, 17)] * 2 + [at(2026, 10, 8, 10)] * 2
    assert t[1].payload["department"] == "CG"
    assert t[3].payload["imported"] is True and t[3].payload["source_status"] == "已结案"
    assert len({e.payload["source_hash"] for e in t}) == 1
    # A community case is not dispatched to anyone; a cancelled one ends cancelled.
    assert [e.kind for e in trail(runtime, "SZ-0012")] == ["created", "handled", "closed"]
    assert case(runtime, "SZ-0012").assignee == "COMMUNITY"
    assert case(runtime, "SZ-0012").spot_check is None
    cancelled = trail(runtime, "SZ-0013")
    assert [e.kind for e in cancelled] == ["created", "dispatched", "cancelled"]
    assert cancelled[-1].payload["reason"] == "cancelled in szcg-gm"
    assert case(runtime, "SZ-0013").closed_at is None


def test_open_cases_are_supervised_only_when_due_ahead(runtime: Runtime, tmp_path: Path) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    late = case(runtime, "SZ-0003")  # dispatched 12 Oct 09:00, 1 working hour to acknowledge
    assert (late.status, late.clock_kind, late.assignee) == ("dispatched", "acknowledge", "SW")
    assert late.next_sweep_at is None and late.overdue is True
    assert local(late.overdue_since) == at(2026, 10, 12, 10)
    fresh = case(runtime, "SZ-0016")  # reported 13 Oct 11:30, import at 12:00
    assert (fresh.status, fresh.assignee, fresh.clock_kind) == (
        "reported",
        "COMMUNITY",
        "acknowledge",
    )
    assert local(fresh.clock_due) == at(2026, 10, 13, 14, 30) and fresh.overdue is False
    assert local(fresh.next_sweep_at) == at(2026, 10, 13, 14, 18)  # reminder at 80 %
    assert [e.kind for e in trail(runtime, "SZ-0016")] == ["created"]


def test_hotline_export_with_bom_iso_dates_and_catch_all(runtime: Runtime, tmp_path: Path) -> None:
    summary, rejects = run(runtime, "hotline_bom.csv", "hotline_mapping.yaml", tmp_path)
    assert (summary.read, summary.imported) == (5, 3)
    assert _by_id(rejects) == {
        "HL-1004": ("5", "closed", "missing_value"),
        "HL-1005": ("6", "lat", "bad_number"),
    }
    a = case(runtime, "HL-1001")
    assert (a.item_code, a.assignee, a.source, a.lat) == ("SH-JF-009", "SC", "hotline", 22.75)
    assert local(a.opened_at) == at(2026, 10, 9, 9, 15)
    b = case(runtime, "HL-1002")  # naive local time, type not in the table → catch-all
    assert (b.item_code, b.tier, b.status, b.assignee) == (
        "SH-JF-004",
        2,
        "dispatched",
        "COMMUNITY",
    )
    assert local(b.opened_at) == at(2026, 10, 10, 9) and "\n" in b.description
    c = case(runtime, "HL-1003")  # a date-only deadline is the end of that local day
    assert c.deadline_source == "source" and c.source == "citizen"
    assert local(c.handle_due) == at(2026, 10, 20, 23, 59, 59, 999999)


def test_reimporting_the_same_file_changes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    before = counts(runtime)
    first = case(runtime, "SZ-0003")
    again, rejects = run(
        runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path, now=at(2026, 10, 20, 9)
    )
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 10)
    assert again.rejected_total == 8 and len(rejects) == 8  # the same bad rows
    assert counts(runtime) == before
    assert case(runtime, "SZ-0003").row_version == first.row_version


def test_a_later_file_appends_events_and_refuses_rewrites(runtime: Runtime, tmp_path: Path) -> None:
    run(runtime, "hotline_bom.csv", "hotline_mapping.yaml", tmp_path)
    kept = [(e.seq, e.kind, e.at) for e in trail(runtime, "HL-1002")]
    original = case(runtime, "HL-1001")
    summary, rejects = run(
        runtime, "hotline_update_bom.csv", "hotline_mapping.yaml", tmp_path, now=at(2026, 10, 14, 9)
    )
    assert (summary.read, summary.imported, summary.updated, summary.unchanged) == (4, 1, 1, 1)
    # HL-1002 closed later: handled + closed appended after the stored trail, untouched.
    t = trail(runtime, "HL-1002")
    assert [(e.seq, e.kind, e.at) for e in t[:2]] == kept
    assert [(e.seq, e.kind, e.from_status) for e in t[2:]] == [
        (3, "handled", "dispatched"),
        (4, "closed", "handled"),
    ]
    assert local(t[-1].at) == at(2026, 10, 12, 16, 30)
    assert t[-1].payload["source_hash"] != t[0].payload["source_hash"]
    c = case(runtime, "HL-1002")
    assert c.status == "closed" and local(c.closed_at) == at(2026, 10, 12, 16, 30)
    assert c.next_sweep_at is None and c.clock_kind is None and c.review_due is not None
    assert c.row_version == 2
    # HL-1001's created time changed: no event can say that, so the row is refused.
    assert _by_id(rejects) == {"HL-1001": ("2", "created", "conflicting_update")}
    after = case(runtime, "HL-1001")
    assert (after.opened_at, after.row_version) == (original.opened_at, original.row_version)
    assert case(runtime, "HL-1006").status == "dispatched"
    # And the update file again: nothing more to do.
    again, _ = run(
        runtime,
        "hotline_update_bom.csv",
        "hotline_mapping.yaml",
        tmp_path,
        now=at(2026, 10, 14, 10),
    )
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 3)
    assert len(trail(runtime, "HL-1002")) == 4


def test_remaining_reject_reasons_from_json_lines(runtime: Runtime, tmp_path: Path) -> None:
    m = mapping(runtime, "jsonl_mapping.yaml")
    out = tmp_path / "rejects.csv"
    summary = Importer(runtime.book, m, now=NOW, rejects=out, chunk_size=3).run(
        json_lines(FIXTURES / "misc.jsonl", m)
    )
    from tests.test_import_support import read_rejects

    got = {(r["line"], r["field"], r["reason"]) for r in read_rejects(out)}
    assert got == {
        ("2", "id", "too_long"),
        ("3", "closed", "in_future"),
        ("4", "handled", "times_out_of_order"),
        ("5", "type", "item_not_in_force"),
        ("6", "record", "unreadable"),
        ("7", "id", "missing_value"),
        ("9", "deadline", "times_out_of_order"),
        ("10", "grid", "unknown_place"),
        ("11", "handled", "missing_value"),
    }
    assert (summary.read, summary.imported, summary.rejected_total) == (10, 1, 9)
    handled = case(runtime, "J-1")  # status handled: awaiting review, on the review clock
    assert (handled.status, handled.community_code, handled.clock_kind) == (
        "handled",
        "GM-GM-GUANGMING",
        "review",
    )
    assert [e.kind for e in trail(runtime, "J-1")] == ["created", "dispatched", "handled"]
    assert handled.reporter == "巡查员甲"


def test_every_reject_reason_is_exercised() -> None:
    """The fixtures above cover every reason but the update conflict, covered separately."""
    covered = {
        "closed_before_created",
        "bad_date",
        "unknown_type",
        "unknown_department",
        "unknown_status",
        "unknown_place",
        "duplicate_id",
        "missing_value",
        "bad_number",
        "too_long",
        "in_future",
        "times_out_of_order",
        "item_not_in_force",
        "unreadable",
        "conflicting_update",
    }
    assert covered == {r.value for r in Reason}


def test_small_chunks_give_the_same_ledger(runtime: Runtime, tmp_path: Path) -> None:
    """Chunks of 2 rows: duplicates spread over chunks, counters reserved per chunk."""
    summary, rejects = run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path, chunk_size=2)
    assert (summary.imported, summary.unchanged, len(rejects)) == (9, 1, 8)
    numbers = [case(runtime, s).case_no for s in ("SZ-0002", "SZ-0012", "SZ-0013")]
    assert sorted(numbers) == [f"C20261009-00000{i}" for i in (1, 2, 3)]


def test_new_cases_fill_every_case_column(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The importer lists what it writes; a column added to ``cases`` must be a choice here."""
    from gridgov.exchange import importer, store
    from gridgov.ledger.models import Case

    written: dict[str, tuple[str, ...]] = {}
    real_columns, real_staged = store.insert_columns, store.insert_from_stage
    real_copy = importer.copy_rows

    def by_columns(conn: Any, render: Any, table: str, values: Any, constants: Any = None) -> None:
        written[table] = (*values, *(constants or {}))
        real_columns(conn, render, table, values, constants)

    def from_stage(conn: Any, table: str, columns: Any, constants: Any) -> None:
        written[table] = (*columns, *constants)
        real_staged(conn, table, columns, constants)

    def copied(conn: Any, table: str, columns: Any, rows: Any) -> None:
        written[table] = tuple(c for c in columns if c != "id")  # ids from the sequence
        real_copy(conn, table, columns, rows)

    # PostgreSQL copies the case rows in; SQLite stages them and copies them in by SQL.
    monkeypatch.setattr(store, "insert_columns", by_columns)
    monkeypatch.setattr(store, "insert_from_stage", from_stage)
    monkeypatch.setattr(importer, "copy_rows", copied)
    run(runtime, "hotline_bom.csv", "hotline_mapping.yaml", tmp_path)
    assert sorted(written["cases"]) == sorted({c.name for c in Case.__table__.columns} - {"id"})


def _long_ids(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A mapping and a file whose source ids are long enough for digest-form event keys."""
    long_map = yaml.safe_load((FIXTURES / "hotline_mapping.yaml").read_text(encoding="utf-8"))
    long_map["source_system"] = "s" * 64
    long_csv = tmp_path / "long.csv"
    text = (FIXTURES / "hotline_bom.csv").read_text(encoding="utf-8-sig")
    long_csv.write_text(text.replace("HL-1001", "L" * 128).replace("HL-1003", "M" * 120))
    long_map["csv"] = {"encoding": "utf-8"}
    return long_map, long_csv


def _import_everything(rt: Runtime, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every status, updates, rejects, duplicates, chunks of 2 and 3, long source ids; the
    ledger's cases, events, their hashes, timers and day counters afterwards, row for row."""
    long_map, long_csv = _long_ids(tmp_path)
    run(rt, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path, chunk_size=2)
    run(rt, "hotline_bom.csv", "hotline_mapping.yaml", tmp_path)
    run(rt, "hotline_update_bom.csv", "hotline_mapping.yaml", tmp_path)
    run(rt, "misc.jsonl", "jsonl_mapping.yaml", tmp_path, chunk_size=3)
    m = parse_mapping(long_map)
    Importer(rt.book, m, now=NOW).run(open_file(long_csv, m))
    with rt.engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(sa_text(f"SELECT * FROM {t} ORDER BY {key}"))]
            for t, key in (
                ("cases", "id"),
                ("case_events", "id"),
                ("event_hashes", "case_id, seq"),
                ("timers", "case_id"),
                ("case_counters", "day"),
            )
        }


def _check_every_step_written(ledger: dict[str, list[tuple[Any, ...]]]) -> None:
    assert len(ledger["case_events"]) > 30
    assert any("#" in e[-1] for e in ledger["case_events"])  # digest keys
    kinds = {e[3] for e in ledger["case_events"]}
    assert kinds == {"created", "dispatched", "handled", "closed", "cancelled"}
    # Every event hashed (the paths compared hash differently: rows vs columns).
    assert [h[:2] for h in ledger["event_hashes"]] == sorted(e[1:3] for e in ledger["case_events"])


def test_staged_sqlite_import_writes_what_bound_rows_write(
    sqlite_template: Path, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite new cases are staged and their trails computed by SQL; the ledger is the
    one binding every case and event row gives, row for row, id for id."""
    ledgers = []
    for staged in (True, False):
        monkeypatch.setattr(Importer, "STAGED", staged)
        path = tmp_path / f"staged-{staged}.sqlite3"
        shutil.copy(sqlite_template, path)
        rt = build_runtime(Settings(database_url=f"sqlite:///{path}"), catalog)
        try:
            ledgers.append(_import_everything(rt, tmp_path))
        finally:
            rt.engine.dispose()
    staged_ledger, bound_ledger = ledgers
    _check_every_step_written(staged_ledger)
    assert staged_ledger == bound_ledger


@pytest.mark.postgres
def test_postgres_copy_writes_what_bound_rows_write(
    pg_schema_url: str, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL new cases and their trails are COPYed in; the ledger is the one an
    executemany of every case and event row gives, row for row, id for id."""
    ledgers = []
    for copy in (True, False):
        monkeypatch.setattr(Importer, "COPY", copy)
        rt = build_runtime(Settings(database_url=pg_schema_url), catalog)
        try:
            with rt.engine.begin() as conn:
                conn.execute(sa_text(f"truncate {', '.join(CASE_TABLES)} restart identity cascade"))
            ledgers.append(_import_everything(rt, tmp_path))
        finally:
            rt.engine.dispose()
    copied, bound = ledgers
    _check_every_step_written(copied)
    assert copied == bound


def test_new_cases_of_a_chunk_are_numbered_in_time_order(runtime: Runtime, tmp_path: Path) -> None:
    """A file not in time order: within a chunk the new cases are written (and numbered per
    day) in the order they were opened, not the file's."""
    csv = tmp_path / "late_first.csv"
    csv.write_text(
        "ticket_id,created_at,closed_at,deadline,state,agency,category,community_code,"
        "grid_code,content,channel,lat,lon\n"
        "HL-LATE,2026-10-09T15:00:00+08:00,,,open,市场监管,消费纠纷,GM-GM-GUANGMING,,a,12345,,\n"
        "HL-EARLY,2026-10-09T09:00:00+08:00,,,open,市场监管,消费纠纷,GM-GM-GUANGMING,,b,12345,,\n",
        encoding="utf-8-sig",
    )
    m = mapping(runtime, "hotline_mapping.yaml")
    assert Importer(runtime.book, m, now=NOW).run(open_file(csv, m)).imported == 2
    early, late = case(runtime, "HL-EARLY"), case(runtime, "HL-LATE")
    assert (early.case_no, late.case_no) == ("C20261009-000001", "C20261009-000002")
    assert early.id < late.id
