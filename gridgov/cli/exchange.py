"""``gridgov import cases`` (history from older systems) and ``gridgov export`` (open formats)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridgov.cli.common import console, err_console, friendly_errors
from gridgov.domain.errors import InvalidInput

import_app = typer.Typer(help="Bring case history in from older systems.", no_args_is_help=True)


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--{name} {text!r} is not a YYYY-MM-DD date", field=name) from exc


def _moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--{name} {text!r} is not an ISO date or time", field=name) from exc


@import_app.command("cases")
@friendly_errors
def cases(
    source: Annotated[str, typer.Argument(help="CSV or JSON Lines file, or an Open311 base URL")],
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help="mapping file (YAML)")],
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="reject file (default: <source>.rejects.csv)")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Open311: period start (ISO)")] = None,
    until: Annotated[str | None, typer.Option(help="Open311: period end (ISO)")] = None,
    chunk_size: Annotated[int, typer.Option(help="rows per transaction")] = 20_000,
    allow_other_zone: Annotated[
        bool,
        typer.Option(help="accept a mapping timezone other than the ledger's (GRIDGOV_TIMEZONE)"),
    ] = False,
) -> None:
    """Import cases (and their trails) from another system; safe to repeat."""
    from gridgov.exchange.importer import Importer
    from gridgov.exchange.mapping import load_mapping
    from gridgov.exchange.open311_source import open311_source
    from gridgov.exchange.readers import RowSource, open_file
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    m = load_mapping(mapping, rt.catalog)
    rows: RowSource
    if m.format == "open311":
        with console.status(f"fetching {source} …"):
            rows, reader = open311_source(
                source, m, _moment(since, "since"), _moment(until, "until")
            )
        console.print(f"Open311: {reader.requests} request(s) to {reader.url}")
        name = m.source_system
    else:
        rows, name = open_file(Path(source), m), Path(source).name
    out = rejects or Path.cwd() / f"{name}.rejects.csv"
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("import", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = Importer(
            rt.book,
            m,
            chunk_size=chunk_size,
            rejects=out,
            progress=tick,
            allow_other_zone=allow_other_zone,
        ).run(rows)
    table = Table(title=f"Import from {m.source_system}")
    table.add_column("")
    table.add_column("rows", justify="right")
    for label, value in (
        ("read", summary.read),
        ("imported", summary.imported),
        ("updated", summary.updated),
        ("unchanged", summary.unchanged),
        ("rejected", summary.rejected_total),
        ("clamped (clock skew)", summary.clamped),
    ):
        table.add_row(label, str(value))
    for reason, n in sorted(summary.rejected.items()):
        table.add_row(f"  {reason}", str(n))
    console.print(table)
    console.print(f"rejects: {out}")
    if summary.all_failed:
        err_console.print(
            f"[bold red]error:[/] every one of the {summary.read} rows was rejected; "
            f"nothing imported (reasons above, rows in {out})",
            highlight=False,
        )
        raise typer.Exit(1)


@friendly_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    month: Annotated[str | None, typer.Option("--month", "-m", help="YYYY-MM")] = None,
    whole: Annotated[
        bool, typer.Option("--all", help="the whole ledger once (or --since/--until)")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="cases opened from this local day (YYYY-MM-DD)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="cases opened before this local day (YYYY-MM-DD)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, parquet or xlsx")] = "csv",
) -> None:
    """Export a month, or the whole ledger / a date range once, with a data dictionary and
    checksums in the manifest."""
    from gridgov.assessments.period import Month
    from gridgov.exchange.export import export_ledger, export_period
    from gridgov.runtime import build_runtime

    ranged = whole or since is not None or until is not None
    if ranged == (month is not None):
        raise InvalidInput("give --month, or --all / --since / --until", field="month")
    rt = build_runtime()
    if month is not None:
        label = month
        with console.status(f"exporting {month} …"):
            result = export_period(rt.engine, rt.calendar.tz, Month.parse(month), fmt, out)
    else:
        first, last = _day(since, "since"), _day(until, "until")
        label = f"{first or 'start'} … {last or 'now'}"
        with console.status(f"exporting {label} …"):
            result = export_ledger(rt.engine, rt.calendar.tz, fmt, out, since=first, until=last)
    rows = ", ".join(f"{n} {k}" for k, n in result.rows.items())
    console.print(f"{label}: {rows}")
    for f in result.files:
        console.print(f"  {f}")


@friendly_errors
def verify_export(directory: Annotated[Path, typer.Argument(help="an export directory")]) -> None:
    """Re-check every file of an export against the SHA-256 in its manifest; exit 1 if any
    file is missing or changed."""
    from gridgov.exchange.export import verify_export as check

    problems = check(directory)
    for line in problems:
        console.print(f"[red]{line}[/]")
    if problems:
        raise typer.Exit(1)
    console.print(f"{directory}: every file matches its checksum")
