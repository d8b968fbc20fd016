"""``gridgov intake FILE`` (machine-found events) and ``gridgov risk grade|patrols``.

Refused rows are listed by line and field; the good rows are still taken, and the command
exits 2 when any row was refused (so a script notices).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridgov.cli.common import console, err_console, friendly_errors
from gridgov.intake.machine import Format, RowError

risk_app = typer.Typer(help="Risk grading of rental housing (出租屋分级).", no_args_is_help=True)
MAX_SHOWN = 25


def _check_file(path: Path) -> None:
    if not path.is_file():
        err_console.print(f"[bold red]error [file]:[/] {path} is not a file")
        raise typer.Exit(2)


def _lines(path: Path, fmt: Format | None) -> int:
    with path.open(encoding="utf-8", errors="replace") as fh:
        n = sum(1 for line in fh if line.strip())
    csv = fmt == Format.CSV or (fmt is None and path.suffix.lower() == ".csv")
    return max(n - 1, 0) if csv else n


def _report_errors(errors: list[RowError]) -> None:
    if not errors:
        return
    for e in errors[:MAX_SHOWN]:
        err_console.print(f"[red]line {e.line}[/] [bold]{e.field}[/]: {e.message}", highlight=False)
    if len(errors) > MAX_SHOWN:
        err_console.print(f"… and {len(errors) - MAX_SHOWN} more refused rows")
    raise typer.Exit(2)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@friendly_errors
def intake(
    file: Annotated[Path, typer.Argument(help="JSON Lines or CSV of AI-camera / IoT events")],
    format: Annotated[Format | None, typer.Option("--format", help="default: by suffix")] = None,
    window: Annotated[float, typer.Option(help="dedupe window, minutes", min=1)] = 30,
) -> None:
    """Open cases from machine-found events: validate, deduplicate, write in bulk."""
    from gridgov.intake.bulk import BulkIntake
    from gridgov.intake.dedupe import DedupeRule
    from gridgov.runtime import default_runtime

    _check_file(file)
    rt = default_runtime()
    rt.init_ledger()
    bulk = BulkIntake(rt.book, DedupeRule(window=timedelta(minutes=window)))
    with _progress() as bar:
        task = bar.add_task("events", total=_lines(file, format))
        report = bulk.ingest_file(file, format, progress=lambda n: bar.advance(task, n))
    table = Table(title=f"Intake of {file.name}")
    for col in ("rows", "cases opened", "repeats merged", "already ingested", "refused"):
        table.add_column(col, justify="right")
    table.add_row(
        *map(str, (report.rows, report.opened, report.repeats, report.already, len(report.errors)))
    )
    console.print(table)
    if report.case_nos:
        console.print(f"cases {report.case_nos[0]} … {report.case_nos[-1]}")
    _report_errors(report.errors)


def _read(file: Path, fmt: Format | None) -> Iterator[tuple[int, dict[str, Any] | str]]:
    from gridgov.intake.machine import read_rows

    return read_rows(file, fmt)


@risk_app.command("grade")
@friendly_errors
def grade(
    file: Annotated[Path, typer.Argument(help="JSON Lines or CSV of inspection records")],
    format: Annotated[Format | None, typer.Option("--format", help="default: by suffix")] = None,
    cases: Annotated[bool, typer.Option(help="open a rectification case per 警示 building")] = True,
) -> None:
    """Grade rental buildings and units from inspection records (idempotent)."""
    from gridgov.intake.risk import RiskRegister, grade_counts
    from gridgov.runtime import default_runtime

    _check_file(file)
    rt = default_runtime()
    rt.init_ledger()
    with _progress() as bar:
        task = bar.add_task("inspections", total=_lines(file, format))
        report = RiskRegister(rt.book).record(
            _read(file, format), open_cases=cases, progress=lambda n: bar.advance(task, n)
        )
    summary = Table(title=f"Inspections from {file.name}")
    for col in ("rows", "recorded", "already", "first graded", "riskier", "safer", "refused"):
        summary.add_column(col, justify="right")
    ch = report.changes
    numbers = [report.rows, report.recorded, report.already, ch["first"], ch["riskier"]]
    summary.add_row(*map(str, [*numbers, ch["safer"], len(report.errors)]))
    console.print(summary)
    grades = Table(title="Grades in the ledger")
    grades.add_column("subject")
    grades.add_column("grade")
    grades.add_column("count", justify="right")
    for subject, counts in grade_counts(rt.engine).items():
        for g, n in sorted(counts.items()):
            grades.add_row(subject, g, str(n))
    console.print(grades)
    if report.cases:
        console.print(f"rectification cases opened: {', '.join(report.cases)}")
    _report_errors(report.errors)


@risk_app.command("patrols")
@friendly_errors
def patrols(
    now: Annotated[datetime | None, typer.Option(help="as of (default: now)")] = None,
) -> None:
    """Turn the patrols due (by risk grade) into open tasks for the grids."""
    from zoneinfo import ZoneInfo

    from gridgov.intake.risk import RiskRegister
    from gridgov.runtime import default_runtime

    rt = default_runtime()
    rt.init_ledger()
    moment = now or datetime.now(ZoneInfo(rt.settings.timezone))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(rt.settings.timezone))
    made = RiskRegister(rt.book).issue_patrol_tasks(moment)
    console.print(f"{made} patrol tasks issued as of {moment:%Y-%m-%d %H:%M}")
