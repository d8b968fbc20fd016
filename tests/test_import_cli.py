"""``gridgov import cases`` and ``gridgov export`` end to end, and the monthly assessment on
imported history (on-time closure from the ledger: handled by the deadline)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridgov.assessments.engine import assess
from gridgov.assessments.period import Month
from gridgov.assessments.scheme import load_scheme
from gridgov.cli.main import app
from gridgov.runtime import Runtime, reset_runtime
from tests.conftest import at
from tests.test_import_support import FIXTURES, case, read_rejects, run

runner = CliRunner()


@pytest.fixture
def cli_ledger(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    assert runtime.settings.database_url
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", runtime.settings.database_url)
    reset_runtime()
    yield runtime
    reset_runtime()


def test_import_command_shows_the_summary_and_writes_rejects(
    cli_ledger: Runtime, tmp_path: Path
) -> None:
    rejects = tmp_path / "out" / "rejects.csv"
    args = [
        "import",
        "cases",
        str(FIXTURES / "szcg_gbk.csv"),
        "--mapping",
        str(FIXTURES / "szcg_mapping.yaml"),
        "--rejects",
        str(rejects),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    for line in ("read", "imported", "unknown_department", "duplicate_id"):
        assert line in first.output
    assert re.search(r"imported\s*│\s*9\s*│", first.output)
    assert len(read_rejects(rejects)) == 8
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and re.search(r"unchanged\s*│\s*10\s*│", again.output)
    assert case(cli_ledger, "SZ-0001").status == "closed"


def test_import_command_names_a_bad_mapping(cli_ledger: Runtime, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("source_system: x\ncolumns: {id: a}\n", encoding="utf-8")
    out = runner.invoke(
        app, ["import", "cases", str(FIXTURES / "szcg_gbk.csv"), "--mapping", str(bad)]
    )
    assert out.exit_code == 2 and "error [columns.created]" in out.output


def test_export_command_writes_files(cli_ledger: Runtime, tmp_path: Path) -> None:
    run(cli_ledger, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    out = tmp_path / "export"
    done = runner.invoke(
        app, ["export", "--month", "2026-10", "--format", "parquet", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert (out / "cases.parquet").exists() and (out / "data_dictionary.md").exists()
    assert "7 cases, 21 events" in done.output
    wrong = runner.invoke(app, ["export", "--month", "2026-13", "--out", str(out)])
    assert wrong.exit_code == 2 and "[month]" in wrong.output


def test_assessment_counts_imported_history_like_native_cases(
    runtime: Runtime, tmp_path: Path
) -> None:
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    a = assess(
        runtime.engine,
        runtime.calendar,
        Month(2026, 10),
        load_scheme("default"),
        now=at(2026, 11, 2),
    )
    cg = a.tables["department"].loc["CG"]
    # SZ-0001 (on time across the holiday), SZ-0002 (late against the source's deadline),
    # SZ-0011 (on time); SZ-0013 was cancelled.
    assert (cg["due"], cg["closed"], cg["closed_on_time"], cg["overdue"]) == (3, 3, 2, 1)
    # The source recorded no acknowledgements or arrivals: its dispatches open no windows
    # (counting them as unanswered would understate response timeliness).
    assert (cg["ack_on_time"], cg["ack_late"], cg["ack_missed"]) == (0, 0, 0)
    assert (cg["arrive_on_time"], cg["arrive_late"], cg["arrive_missed"]) == (0, 0, 0)
    sw = a.tables["department"].loc["SW"]  # SZ-0003: open past its deadline
    assert (sw["due"], sw["closed"], sw["overdue"]) == (1, 0, 1)
    community = a.tables["community"].loc["GM-GM-GUANGMING"]
    # October's reports: SZ-0001 is September's, SZ-0013 was cancelled.
    assert community["reported"] == 5
