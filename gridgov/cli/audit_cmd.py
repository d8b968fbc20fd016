"""``gridgov audit``: the month's data checks, and the tamper-evident trail (``seal``,
``verify-trail``, ``new-key``). See docs/assessment.md ("Audits") and docs/audit-trail.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridgov.cli.assess import MonthOpt, OutOpt
from gridgov.cli.common import console, err_console, friendly_errors
from gridgov.domain.errors import InvalidInput

app = typer.Typer(
    help="Check the data behind the month's scores; seal and verify the trail.",
    invoke_without_command=True,
)


@app.callback()
@friendly_errors
def audit(
    ctx: typer.Context,
    month: MonthOpt = None,
    out: OutOpt = None,
    reports: Annotated[
        Path | None,
        typer.Option(help="a folder of published reports (CSV/XLSX) to check against the ledger"),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            "-p",
            help="a quarter (2026-Q4, 季度) or year (2026, 年度): check its published reports "
            "(with --reports) against the ledger",
        ),
    ] = None,
) -> None:
    """Check the data behind the month's scores; exit 1 naming each failed check and case."""
    if ctx.invoked_subcommand is not None:
        return
    if period is not None:
        _audit_period_reports(period, month, reports)
        return
    # Say something before the heavy imports (pandas, Great Expectations: seconds).
    console.print(f"auditing {month or 'the last complete month'}: loading…")
    from gridgov.assessments.audit.runner import run_audit
    from gridgov.assessments.period import Month
    from gridgov.assessments.reports.files import default_out_dir
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    now = datetime.now(UTC)
    m = Month.parse(month) if month else Month.previous(now, rt.calendar.tz)
    docs_dir = (out or default_out_dir(rt.settings.home, m.label)) / "audit"
    with console.status(f"auditing {m.label}…") as status:
        report = run_audit(
            rt.engine,
            rt.calendar,
            m,
            now=now,
            docs_dir=docs_dir,
            reports_dir=reports,
            ledger=rt.engine.url.render_as_string(hide_password=True),
            progress=lambda step: status.update(f"auditing {m.label}: {step}…"),
        )
    table = Table(
        title=f"Audit {m.label}: {report.rows['cases']} cases, {report.rows['events']} events"
    )
    for col in ("check", "result", "unexpected", "what is wrong", "what it checks"):
        table.add_column(col)
    for r in report.results:
        table.add_row(
            r.check,
            "[green]ok[/]" if r.success else "[bold red]FAILED[/]",
            str(r.unexpected),
            "\n".join(r.details[:5]) if not r.success else "",
            r.error or r.description,
        )
    console.print(table)
    console.print(f"Report: {report.docs}")
    if report.failed:
        names = ", ".join(r.check for r in report.failed)
        err_console.print(f"[bold red]audit failed[/]: {len(report.failed)} check(s): {names}")
        for r in report.failed:
            for line in r.details:
                err_console.print(f"  {r.check}: {line}", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]all {len(report.results)} checks passed[/]")


def _audit_period_reports(period: str, month: str | None, reports: Path | None) -> None:
    """A quarter's or year's published reports against the assessment recomputed from the
    ledger (the data checks themselves run per month: ``--month``)."""
    from gridgov.assessments.period import Month, parse_period

    p = parse_period(period)
    if isinstance(p, Month) or month is not None:
        raise InvalidInput(
            "--period takes a quarter or a year; audit a month with --month", field="period"
        )
    if reports is None:
        raise InvalidInput(
            f"auditing {p.label} checks its published reports: pass --reports DIR", field="reports"
        )
    console.print(f"checking the published reports of {p.label} in {reports}: loading…")
    from gridgov.assessments.audit.published import compare_published
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    with console.status(f"recomputing {p.label} from the ledger…"):
        problems, files = compare_published(rt.engine, rt.calendar, p, reports)
    if problems:
        err_console.print(f"[bold red]audit failed[/]: published_reports_match ({p.label})")
        for line in problems:
            err_console.print(f"  published_reports_match: {line}", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]the {files} published report file(s) of {p.label} equal the ledger's[/]")


KeyOpt = Annotated[
    Path | None, typer.Option("--key", help="Ed25519 private key (default: GRIDGOV_SEAL_KEY_FILE)")
]


@app.command("new-key")
@friendly_errors
def new_key(
    private: Annotated[Path, typer.Argument(help="where to write the private key (PEM, 0600)")],
    public: Annotated[Path, typer.Argument(help="where to write the public key (PEM)")],
) -> None:
    """Make the Ed25519 key pair that signs trail checkpoints."""
    from gridgov.ledger.chain import new_key as make

    if private.exists():
        raise InvalidInput(f"{private} exists: not overwriting a signing key", field="private")
    console.print(f"key {make(private, public)} written: {private} (private), {public}")


@app.command()
@friendly_errors
def seal(
    key: KeyOpt = None,
    export: Annotated[
        Path | None, typer.Option(help="append the checkpoint here (default: settings)")
    ] = None,
) -> None:
    """Hash the events written since the last checkpoint and sign a new checkpoint."""
    from gridgov.ledger.chain import load_private
    from gridgov.ledger.chain import seal as do_seal
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    path = key or rt.settings.seal_key_file
    if path is None:
        raise InvalidInput("no signing key: pass --key or set GRIDGOV_SEAL_KEY_FILE", field="key")
    target = export or rt.settings.checkpoint_target
    cp = do_seal(rt.engine, load_private(path), export=target)
    console.print(
        f"checkpoint {cp.id}: {cp.events} events of {cp.cases} cases sealed, root {cp.root[:16]}…"
        f" → {target}" + (f"\n{cp.note}" if cp.note else "")
    )


@app.command("verify-trail")
@friendly_errors
def verify_trail(
    since: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD: verify the checkpoints from this day on")
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="public key (default: GRIDGOV_SEAL_PUBLIC_KEY_FILE)"),
    ] = None,
    exported: Annotated[
        Path | None, typer.Option(help="the exported checkpoints to compare (default: settings)")
    ] = None,
) -> None:
    """Prove every case's hash chain and every signed checkpoint; exit 1 naming the first
    broken event of each case by its case number."""
    console.print("verifying the trail…")
    from gridgov.ledger.chain import load_public, verify
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    path = public_key or rt.settings.seal_public_key_file or rt.settings.seal_key_file
    if path is None:
        raise InvalidInput(
            "no public key: pass --public-key or set GRIDGOV_SEAL_PUBLIC_KEY_FILE",
            field="public_key",
        )
    start = None
    if since:
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
        except ValueError as exc:
            raise InvalidInput(f"{since!r} is not YYYY-MM-DD", field="since") from exc
    copy = exported or rt.settings.checkpoint_target
    rep = verify(
        rt.engine, load_public(path), since=start, exported=copy if copy.exists() else None
    )
    console.print(
        f"{rep.events} events of {rep.cases} cases, {rep.checkpoints} checkpoints verified; "
        f"{rep.unsealed} events written since the last checkpoint (not sealed yet)"
    )
    if rep.problems:
        err_console.print(f"[bold red]trail broken[/]: {len(rep.problems)} problem(s)")
        for p in rep.problems:
            err_console.print(f"  {p}", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print("[green]trail intact[/]")
