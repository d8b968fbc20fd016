"""Exporting a month (CSV, Parquet, XLSX) with its data dictionary, and assessing and auditing
the export without the database: the extracts must equal the live ledger's."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gridgov.assessments.audit.extract import read_audit
from gridgov.assessments.extract import read_ledger
from gridgov.assessments.period import Month, Window
from gridgov.domain.errors import InvalidInput
from gridgov.exchange.dictionary import MEANINGS, dictionary
from gridgov.exchange.export import export_period
from gridgov.exchange.offline import audit_extract, ledger_extract, load_export
from gridgov.exchange.tables import TABLES, kinds
from gridgov.runtime import Runtime
from tests.conftest import at
from tests.test_import_support import run

OCTOBER = Month(2026, 10)
AFTER = at(2026, 11, 2, 9)  # the month is over


def _ledger(runtime: Runtime, tmp_path: Path) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    run(runtime, "hotline_bom.csv", "hotline_mapping.yaml", tmp_path)


def _by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("id").reset_index(drop=True)


def test_dictionary_describes_every_ledger_column() -> None:
    d = dictionary()
    for table, t in TABLES.items():
        described = set(MEANINGS[table])
        assert described == set(kinds(t)), table
    assert not d["meaning"].str.contains("not yet described").any()
    times = d[d["type"] == "timestamp"]
    assert (times["unit"] == "UTC, µs precision").all() and len(times) >= 15


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_export_reads_back_as_the_assessment_and_audit_extracts(
    runtime: Runtime, tmp_path: Path, fmt: str
) -> None:
    _ledger(runtime, tmp_path)
    out = tmp_path / fmt
    result = export_period(runtime.engine, runtime.calendar.tz, OCTOBER, fmt, out, now=AFTER)
    names = {p.name for p in result.files}
    assert {"data_dictionary.csv", "data_dictionary.md", "manifest.json"} <= names
    assert (names >= {"ledger.xlsx"}) if fmt == "xlsx" else (f"events.{fmt}" in names)
    # Cases: the September case closed in October (SZ-0001) and October's; not June/July.
    assert result.rows["cases"] == 10 and result.rows["events"] == 29
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["month"], manifest["format"], manifest["timezone"]) == (
        "2026-10",
        fmt,
        "Asia/Shanghai",
    )
    assert set(manifest["sha256"]) == names - {"manifest.json"}
    assert all(len(d) == 64 for d in manifest["sha256"].values())

    window = Window.of(OCTOBER, runtime.calendar.tz, AFTER)
    live = read_ledger(runtime.engine, window)
    cases, events = load_export(out)
    pd.testing.assert_frame_equal(cases.sort_index(), live.cases.sort_index())
    pd.testing.assert_frame_equal(events, live.events)
    offline = ledger_extract(out)
    for name in ("items", "departments", "territory"):
        key = list(getattr(live, name).columns[:2])
        pd.testing.assert_frame_equal(
            getattr(offline, name).sort_values(key).reset_index(drop=True),
            getattr(live, name).sort_values(key).reset_index(drop=True),
        )
    audit_live = read_audit(runtime.engine, window)
    audit_off = audit_extract(out)
    pd.testing.assert_frame_equal(_by_id(audit_off.cases), _by_id(audit_live.cases))
    pd.testing.assert_frame_equal(audit_off.events, audit_live.events)
    assert audit_off.raw_counts == audit_live.raw_counts


def test_export_values_are_utc_text_and_json(runtime: Runtime, tmp_path: Path) -> None:
    _ledger(runtime, tmp_path)
    out = tmp_path / "csv"
    export_period(runtime.engine, runtime.calendar.tz, OCTOBER, "csv", out, now=AFTER)
    cases = pd.read_csv(out / "cases.csv", dtype=str, keep_default_na=False)
    row = cases[cases["source_id"] == "SZ-0001"].iloc[0]
    assert row["opened_at"] == "2026-09-30T09:00:00.000000Z"  # 17:00 in Shenzhen
    assert row["overdue"] == "false" and row["assisting"] == "[]"
    events = pd.read_csv(out / "events.csv", dtype=str, keep_default_na=False)
    closed = events[(events["case_id"] == row["id"]) & (events["kind"] == "closed")].iloc[0]
    assert json.loads(closed["payload"])["source_status"] == "已结案"
    md = (out / "data_dictionary.md").read_text(encoding="utf-8")
    assert "| handle_due | timestamp |" in md


def test_offline_audit_runs_the_suites_on_an_export(runtime: Runtime, tmp_path: Path) -> None:
    """The audit's own pipeline on an export: trails, deadlines, references, KPI totals."""
    from gridgov.assessments.audit.runner import run_audit
    from gridgov.exchange.offline import offline_ledger

    _ledger(runtime, tmp_path)
    out = tmp_path / "parquet"
    export_period(runtime.engine, runtime.calendar.tz, OCTOBER, "parquet", out, now=AFTER)
    engine, window = offline_ledger(out)
    report = run_audit(engine, runtime.calendar, OCTOBER, now=window.cutoff)
    engine.dispose()
    results = {r.check: r for r in report.results}
    assert report.rows["cases"] == 10
    for check in (
        "trail_complete",
        "status_matches_trail",
        "events_in_time_order",
        "deadline_acknowledge",
        "deadline_arrive",
        "deadline_review",
        "closed_after_opened",
        "kpi_reconciles",
        "item_version_valid",
        "required_handle_due",
        "closed_has_review_due",
        "closure_reviewed",  # imported closures count as reviewed at the source
        "deadline_handle",  # source-provided deadlines are kept, not recomputed
    ):
        assert results[check].success, results[check]


def test_bad_format_and_an_unstarted_month_are_refused(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as exc:
        export_period(runtime.engine, runtime.calendar.tz, OCTOBER, "dbf", tmp_path, now=AFTER)
    assert exc.value.field == "format"
    with pytest.raises(InvalidInput, match="has not started"):
        export_period(
            runtime.engine, runtime.calendar.tz, Month(2027, 1), "csv", tmp_path, now=AFTER
        )
    with pytest.raises(InvalidInput, match="not an export"):
        load_export(tmp_path)


def test_an_exported_file_edited_after_export_is_refused_by_name(
    runtime: Runtime, tmp_path: Path
) -> None:
    _ledger(runtime, tmp_path)
    out = tmp_path / "csv"
    export_period(runtime.engine, runtime.calendar.tz, OCTOBER, "csv", out, now=AFTER)
    load_export(out)  # untouched: reads
    events = out / "events.csv"
    text = events.read_text(encoding="utf-8")
    assert "dispatched" in text
    events.write_text(text.replace("dispatched", "rerouted", 1), encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"events\.csv: its SHA-256 differs") as exc:
        load_export(out)
    assert exc.value.field == "directory"
