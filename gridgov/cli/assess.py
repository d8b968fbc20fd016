"""``gridgov assess``: the monthly assessment and its reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridgov.cli.common import console, friendly_errors

MonthOpt = Annotated[
    str | None, typer.Option("--month", "-m", help="YYYY-MM (default: the last complete month)")
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="output directory (default: $GRIDGOV_HOME/reports/YYYY-MM)"),
]


def _pct(v: float) -> str:
    import pandas as pd  # heavy: only for this command, not every CLI start

    return "–" if pd.isna(v) else f"{100 * v:.1f}%"  # NaN: no cases


@friendly_errors
def assess(
    month: MonthOpt = None,
    scheme: Annotated[
        str, typer.Option("--scheme", "-s", help="shipped scheme (default, fenghuang) or YAML path")
    ] = "default",
    out: OutOpt = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="a quarter (2026-Q4, 季度) or year (2026, 年度) instead of a month",
        ),
    ] = None,
) -> None:
    """Score departments, communities, grids and sunk staff for a month, quarter or year;
    write CSV, XLSX, HTML (with the cohort view by opening month)."""
    import pandas as pd  # heavy: only for this command, not every CLI start

    from gridgov.assessments.engine import STAGES
    from gridgov.assessments.engine import assess as run
    from gridgov.assessments.period import Month, Period, parse_period
    from gridgov.assessments.reports import write_reports
    from gridgov.assessments.reports.files import default_out_dir
    from gridgov.assessments.scheme import load_scheme
    from gridgov.runtime import build_runtime

    chosen = load_scheme(scheme)  # a bad scheme fails before touching the ledger
    rt = build_runtime()
    rt.check_zone()
    now = datetime.now(UTC)
    m: Period = (
        parse_period(period)
        if period
        else Month.parse(month)
        if month
        else Month.previous(now, rt.calendar.tz)
    )
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("assessing", total=len(STAGES) + 1)

        def stage(name: str) -> None:
            progress.update(task, description=f"{m.label}: {name}", advance=1)

        a = run(rt.engine, rt.calendar, m, chosen, now=now, progress=stage)
        progress.update(task, description=f"{m.label}: writing reports", advance=1)
        files = write_reports(a, out or default_out_dir(rt.settings.home, m.label))
    t = a.totals
    console.print(
        f"[bold]{m.label}[/] ({chosen.name}): {t['due']:.0f} cases due, "
        f"{t['closed']:.0f} closed ({_pct(t['closure_rate'])}), "
        f"{_pct(t['on_time_closure_rate'])} on time, {t['overdue']:.0f} overdue"
    )
    console.print(f"working time: {a.working_time}")
    table = Table(title="Departments (ranked)")
    for col in ("rank", "code", "name", "score", "due", "closure", "on time", "overdue", "flag"):
        table.add_column(col)
    dept = a.tables["department"].sort_values(
        ["rank", "score"], ascending=[True, False], na_position="last"
    )
    for code, r in dept.head(20).iterrows():
        table.add_row(
            "" if pd.isna(r["rank"]) else str(r["rank"]),
            str(code),
            str(r["name_zh"]),
            "–" if pd.isna(r["score"]) else f"{r['score']:.1f}",
            str(r["due"]),
            _pct(r["closure_rate"]),
            _pct(r["on_time_closure_rate"]),
            str(r["overdue"]),
            {"red": "[red]red[/]", "yellow": "[yellow]yellow[/]"}.get(r["flag"], ""),
        )
    console.print(table)
    console.print(f"HTML: {files.html}\nXLSX: {files.xlsx}\nCSV:  {files.directory}/")
