"""``gridgov audit --period 2026-Q4|2026 --reports DIR``: a quarter's or year's published
reports against the ledger; a hand-edited cell is named by file, row and column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridgov.assessments.audit.published import compare_published
from gridgov.assessments.engine import assess
from gridgov.assessments.period import Quarter
from gridgov.assessments.reports.tables import write_csv
from gridgov.assessments.scheme import load_scheme
from gridgov.cli.main import app
from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime, reset_runtime
from tests.test_assessment_sample import build_october, sample_ledger

AFTER = datetime(2027, 1, 5, tzinfo=UTC)


# The comparison is backend-free (the assessment's own tests cover both backends): one is
# enough, and the CSVs alone (no XLSX/HTML charts) keep it to seconds.
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_quarter_reports_are_checked_against_the_ledger(
    runtime: Runtime, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_october(sample_ledger(runtime, catalog))
    a = assess(runtime.engine, runtime.calendar, Quarter(2026, 4), load_scheme(), now=AFTER)
    out = tmp_path / "2026-Q4"
    out.mkdir()
    write_csv(a, out)
    assert compare_published(runtime.engine, runtime.calendar, Quarter(2026, 4), out) == ([], 9)
    path = out / "2026-Q4-department.csv"
    table = pd.read_csv(path, encoding="utf-8-sig")
    code = str(table.iloc[0]["code"])
    table.loc[0, "closed"] = int(table.loc[0, "closed"]) + 1  # one closure made up
    table.to_csv(path, index=False, encoding="utf-8-sig")
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", runtime.engine.url.render_as_string(False))
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    reset_runtime()
    runner = CliRunner()
    try:
        bad = runner.invoke(app, ["audit", "--period", "2026-Q4", "--reports", str(out)])
        assert bad.exit_code == 1
        assert f"2026-Q4-department.csv: code {code}, closed: published" in bad.output
        month = runner.invoke(app, ["audit", "--period", "2026-10", "--reports", str(out)])
        assert month.exit_code != 0 and "--period takes a quarter or a year" in month.output
        nothing = runner.invoke(app, ["audit", "--period", "2026"])
        assert nothing.exit_code != 0 and "pass --reports DIR" in nothing.output
    finally:
        reset_runtime()
