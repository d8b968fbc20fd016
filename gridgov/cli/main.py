"""Entry point of the ``gridgov`` command."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import typer

from gridgov.cli import (
    api_cmd,
    assess,
    audit_cmd,
    board_cmd,
    calendar_cmd,
    catalog,
    flows,
    keys,
    requests,
)
from gridgov.cli import exchange as exchange_cli
from gridgov.cli import intake as intake_cli
from gridgov.cli import simulate as simulate_cli
from gridgov.cli.common import console, friendly_errors

app = typer.Typer(help="Grid-governance cases (网格化治理) on Prefect.", no_args_is_help=True)
app.add_typer(catalog.app, name="catalog")
app.add_typer(calendar_cmd.app, name="calendar")
app.add_typer(flows.deployments_app, name="deployments")
app.command()(flows.demo)
app.command()(flows.serve)
app.command()(assess.assess)
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(keys.app, name="keys")
app.command()(api_cmd.api)
app.add_typer(exchange_cli.import_app, name="import")
app.command(name="export")(exchange_cli.export)
app.command(name="verify-export")(exchange_cli.verify_export)
app.command()(intake_cli.intake)
app.add_typer(intake_cli.risk_app, name="risk")
app.add_typer(requests.app, name="requests")
app.command(name="board")(board_cmd.board)
app.command()(simulate_cli.simulate)


@app.command()
@friendly_errors
def init() -> None:
    """Create or upgrade the ledger and load the catalogue into it (safe to repeat)."""
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    report = rt.init_ledger()
    console.print(f"ledger: {rt.engine.url.render_as_string(hide_password=True)}")
    console.print(f"catalogue synced: {report.summary()}")
    for line in report.changed:
        console.print(f"  changed: {line}")
    catalog.print_summary(rt.catalog, datetime.now(ZoneInfo(rt.settings.timezone)).date())


if __name__ == "__main__":
    app()
