"""``gridgov calendar show|check|validate``: which days are worked, and from what data."""

from __future__ import annotations

import calendar as monthgrid
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridgov.cli.common import console, friendly_errors
from gridgov.domain.calendar import WorkingCalendar

app = typer.Typer(help="Working days (工作日) and holiday data.", no_args_is_help=True)
FileOpt = Annotated[
    Path | None, typer.Option("--file", help="holiday file; default the configured one")
]
# One mark per kind of day, so the grid reads the same without colour (CI logs, pipes).
MARKS = {"work": " ", "weekend": "·", "holiday": "H", "makeup": "W", "rest": "R"}


def _calendar(path: Path | None) -> WorkingCalendar:
    from gridgov.domain.calendar import OfficeHours
    from gridgov.item_catalog.holidays import holidays_for, load_holidays
    from gridgov.item_catalog.loader import DEFAULT_DIR
    from gridgov.settings import get_settings

    s = get_settings()
    table = (
        load_holidays(path) if path else holidays_for(s.catalog_dir or DEFAULT_DIR, s.holidays_file)
    )
    return WorkingCalendar(s.timezone, OfficeHours.parse(s.office_hours), holidays=table)


def day_kind(cal: WorkingCalendar, day: date) -> str:
    declared = cal.holidays.years.get(day.year) if cal.holidays else None
    if cal.is_workday(day):
        return "makeup" if day.weekday() >= 5 else "work"
    if declared is not None and day in declared.rest_days:
        return "rest"
    return "weekend" if day.weekday() >= 5 else "holiday"


@app.command()
@friendly_errors
def show(year: int, file: FileOpt = None) -> None:
    """Print YEAR month by month: working days plain, · weekend, H holiday, W make-up, R rest."""
    cal = _calendar(file)
    source = cal.source(year)
    console.print(
        f"{year}: working days from {source}"
        if source
        else f"{year}: NO holiday data — Monday–Friday assumed; deadlines are provisional"
    )
    total = 0
    grid = Table(show_header=False, box=None, padding=(0, 2))
    months: list[str] = []
    for month in range(1, 13):
        lines = [f"{monthgrid.month_name[month]:^27}", " Mo  Tu  We  Th  Fr  Sa  Su"]
        worked = 0
        for week in monthgrid.Calendar().monthdatescalendar(year, month):
            cells = []
            for day in week:
                if day.month != month:
                    cells.append("   ")
                    continue
                kind = day_kind(cal, day)
                worked += kind in ("work", "makeup")
                cells.append(f"{day.day:>2}{MARKS[kind]}")
            lines.append(" " + " ".join(cells))
        lines += [""] * (8 - len(lines))  # six week rows in every month keep the grid aligned
        lines.append(f"{worked} working days")
        total += worked
        months.append("\n".join(lines))
    for i in range(0, 12, 3):
        grid.add_row(*months[i : i + 3])
    console.print(grid)
    console.print(
        f"{total} working days in {year}.  marks: · weekend  H holiday (放假)  "
        "W make-up working day (调休上班)  R local rest day"
    )


@app.command()
@friendly_errors
def check(
    years: Annotated[int, typer.Option(help="how many years ahead to check")] = 2,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default today")] = None,
    file: FileOpt = None,
) -> None:
    """Say which years from this one on are covered and by what source; exit 1 if one is not."""
    cal = _calendar(file)
    first = date.fromisoformat(today).year if today else date.today().year
    table = Table(title="Holiday data")
    table.add_column("year")
    table.add_column("covered")
    table.add_column("source")
    missing = []
    for year in range(first, first + years + 1):
        source = cal.source(year)
        if source is None:
            missing.append(year)
        table.add_row(str(year), "yes" if source else "NO", source or "— (Monday–Friday assumed)")
    console.print(table)
    if missing:
        console.print(
            f"missing: {', '.join(map(str, missing))} — deadlines reaching these years are "
            "provisional; add the State Council's arrangement to the holiday file "
            "(docs/calendar.md)"
        )
        raise typer.Exit(1)


@app.command()
@friendly_errors
def validate(file: Path) -> None:
    """Check a holiday file; errors name the file, line and date. Nothing is changed."""
    from gridgov.item_catalog.holidays import load_holidays

    table = load_holidays(file)
    for year, arrangement in sorted(table.years.items()):
        console.print(
            f"{year}: {len(arrangement.holidays)} holidays, {len(arrangement.workdays)} make-up "
            f"working days, {len(arrangement.rest_days)} local rest days"
            + (f" — {arrangement.source}" if arrangement.source else "")
        )
    console.print(f"{file}: OK ({len(table.years)} year(s))")


@app.command()
@friendly_errors
def recount(
    by: Annotated[str, typer.Option("--by", help="who asks (recorded in each event)")] = "gridgov",
) -> None:
    """Recount provisional deadlines whose years now have holiday data (one trail event each)."""
    from datetime import UTC, datetime

    from gridgov.domain.enums import Role
    from gridgov.domain.lifecycle import Actor
    from gridgov.ledger.provisional import recount_provisional
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    report = recount_provisional(rt.book, datetime.now(UTC), Actor(Role.SYSTEM, by))
    console.print(f"recounted {report.recounted} case(s); due times moved on {report.changed}")
    for years, n in sorted(report.waiting.items()):
        console.print(f"still provisional: {n} case(s) waiting for holiday data of {years}")
