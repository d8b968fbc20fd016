"""Write every report of a month into one directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridgov.assessments.engine import Assessment
from gridgov.assessments.reports.html import render
from gridgov.assessments.reports.tables import write_csv, write_xlsx


@dataclass(frozen=True)
class ReportFiles:
    directory: Path
    csv: list[Path]
    xlsx: Path
    html: Path


def write_reports(a: Assessment, out: Path) -> ReportFiles:
    out.mkdir(parents=True, exist_ok=True)
    csv = write_csv(a, out)
    xlsx = write_xlsx(a, out / f"assessment-{a.month.label}.xlsx")
    html = out / f"assessment-{a.month.label}.html"
    html.write_text(render(a), encoding="utf-8")
    return ReportFiles(out, csv, xlsx, html)


def default_out_dir(home: Path, month: str) -> Path:
    """``<GRIDGOV_HOME>/reports/<YYYY-MM>``."""
    return home / "reports" / month
