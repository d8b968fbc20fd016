"""Reports (CSV, XLSX, self-contained HTML), the CLI and the Prefect flow with its artifacts."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from typer.testing import CliRunner

from gridgov.assessments.engine import assess
from gridgov.assessments.period import Month
from gridgov.assessments.reports import write_reports
from gridgov.assessments.reports.artifacts import ranking_rows, summary_markdown
from gridgov.assessments.scheme import load_scheme
from gridgov.cli.main import app
from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime, reset_runtime
from tests.test_assessment_sample import C1, Ledger, build_october, sample_ledger

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture
def ledger(runtime: Runtime, catalog: Catalog) -> Ledger:
    lg = sample_ledger(runtime, catalog)
    build_october(lg)
    return lg


@pytest.fixture
def env(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Ledger]:
    """The process-wide settings (CLI, flows) pointed at this test's ledger."""
    url = ledger.rt.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", url)
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    reset_runtime()
    yield ledger
    reset_runtime()


def test_reports_csv_xlsx_and_self_contained_html(ledger: Ledger, tmp_path: Path) -> None:
    rt = ledger.rt
    a = assess(rt.engine, rt.calendar, Month(2026, 10), load_scheme(), now=NOW)
    files = write_reports(a, tmp_path / "out")
    names = sorted(p.name for p in files.csv)
    assert names == [f"2026-10-{n}.csv" for n in sorted(
        ["summary", "department", "community", "grid", "street", "staff", "trend", "cohort",
         "scheme"]
    )]  # fmt: skip
    with (tmp_path / "out" / "2026-10-department.csv").open(encoding="utf-8-sig") as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh)}
    assert (rows["ZCG"]["due"], rows["ZCG"]["overdue"], rows["ZCG"]["score"]) == ("4", "3", "30.0")

    wb = load_workbook(files.xlsx, read_only=True)
    assert wb.sheetnames == ["summary", "department", "community", "grid", "street", "staff",
                             "trend", "cohort", "scheme"]  # fmt: skip
    sheet = list(wb["community"].iter_rows(values_only=True))
    header, body = sheet[0], {r[0]: r for r in sheet[1:]}
    assert body[C1][header.index("due")] == 6
    assert body[C1][header.index("closure_rate")] == pytest.approx(5 / 6)

    html = files.html.read_text("utf-8")
    assert "2026-10" in html and "ZCG" in html and "部门ZCG" in html
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', html)) == 5
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing to fetch: self-contained
    assert 'class="red"' in html  # the flagged community's row

    md = summary_markdown(a, files)
    assert "| cases due (应结案) | 9 |" in md and f"1 red ({C1})" in md
    rows_c = ranking_rows(a.tables["community"])
    assert rows_c[0]["code"] == C1 and rows_c[0]["rank"] == 1 and rows_c[0]["flag"] == "red"


def test_cli_assess_writes_reports_and_explains_bad_input(env: Ledger, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "reports"
    res = runner.invoke(app, ["assess", "--month", "2026-10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "9 cases due, 7 closed (77.8%)" in res.output
    assert (out / "assessment-2026-10.html").exists()
    assert (out / "assessment-2026-10.xlsx").exists()

    bad = runner.invoke(app, ["assess", "--month", "2026-13"])
    assert bad.exit_code == 2 and "month '2026-13'" in bad.output
    scheme = tmp_path / "bad.yaml"
    scheme.write_text("name: bad\n", "utf-8")
    bad = runner.invoke(app, ["assess", "--month", "2026-10", "--scheme", str(scheme)])
    assert bad.exit_code == 2 and "bad.yaml" in bad.output and "title" in bad.output
    assert not (tmp_path / "home" / "reports").exists()  # refused before writing anything


@pytest.mark.prefect
async def test_flow_writes_reports_and_artifacts(
    env: Ledger, prefect_server: None, tmp_path: Path
) -> None:
    from gridgov.flows.assessment import monthly_assessment

    out = tmp_path / "flow-out"
    result = await monthly_assessment(month="2026-10", out_dir=str(out))
    assert result["month"] == "2026-10" and result["totals"]["due"] == 9
    assert Path(result["html"]).exists()
    keys = [
        "assessment-2026-10",
        "assessment-2026-10-departments",
        "assessment-2026-10-communities",
    ]
    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    latest = {a.key: a for a in sorted(arts, key=lambda a: a.created or NOW)}
    assert set(latest) == set(keys)
    assert latest["assessment-2026-10"].type == "markdown"
    assert "cases due (应结案) | 9" in str(latest["assessment-2026-10"].data)
    # The audit of the month and of the reports just written, linked from the summary.
    page = out / "audit" / "index.html"
    assert result["audit"] == str(page) and result["audit_failed"] == []
    assert page.exists() and f"offline page: `{page}`" in str(latest["assessment-2026-10"].data)
    table = latest["assessment-2026-10-departments"]
    assert table.type == "table" and "ZCG" in str(table.data)


def test_months_due_catch_up_from_the_last_month_done() -> None:
    from gridgov.flows.assessment import months_due

    assert months_due(None, Month(2026, 11)) == [Month(2026, 11)]  # first run: the month before
    assert months_due("2026-11", Month(2026, 11)) == []  # a late duplicate run: nothing
    assert months_due("2026-09", Month(2026, 11)) == [Month(2026, 10), Month(2026, 11)]
    assert months_due("2025-11", Month(2027, 1), limit=3) == [
        Month(2026, 11),
        Month(2026, 12),
        Month(2027, 1),
    ]


@pytest.mark.prefect
async def test_scheduled_runs_assess_each_missed_month_once(
    env: Ledger, prefect_server: None, tmp_path: Path
) -> None:
    """The stack was down over the 1st of November and of December: the next scheduled run
    assesses October and November, a backlog of late runs started together assesses nothing
    twice, and the hold records November as done (issue 12). (Without the audit: the flow
    test above covers it; here it would only triple the time.)"""
    import asyncio

    from gridgov.clock import SimClock, use_clock
    from gridgov.flows.assessment import monthly_assessment
    from gridgov.ledger import holds
    from gridgov.ledger.db import transaction
    from gridgov.ledger.models import JobHold

    factory = env.rt.book.factory
    with transaction(factory) as s:
        s.add(JobHold(name=holds.MONTHLY, last_period="2026-09"))
    out = tmp_path / "catch-up"
    with use_clock(SimClock(datetime(2026, 12, 3, 1, tzinfo=UTC))):
        first, second = await asyncio.gather(
            monthly_assessment(out_dir=str(out), audit=False),
            monthly_assessment(out_dir=str(out), audit=False),
        )
        again = await monthly_assessment(out_dir=str(out), audit=False)
    assert sorted(first["months"] + second["months"]) == ["2026-10", "2026-11"]
    assert again["months"] == [] and not again["skipped"]
    assert holds.last_period(factory, holds.MONTHLY) == "2026-11"
    assert sorted(p.name for p in out.iterdir()) == ["2026-10", "2026-11"]
    october = next(a for a in first["assessed"] + second["assessed"] if a["month"] == "2026-10")
    assert october["totals"]["due"] == 9
