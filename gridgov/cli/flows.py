"""``gridgov demo``, ``gridgov serve`` and ``gridgov deployments generate``."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridgov.cli.common import console, friendly_errors

deployments_app = typer.Typer(help="Prefect deployments of the item flows.", no_args_is_help=True)


@deployments_app.command("generate")
@friendly_errors
def generate(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("prefect.yaml"),
    check: Annotated[bool, typer.Option(help="exit 1 if the file differs")] = False,
) -> None:
    """Write prefect.yaml from the catalogue (one deployment per item + review + supervise)."""
    from gridgov.flows.deployments import render_prefect_yaml
    from gridgov.runtime import default_catalog

    text = render_prefect_yaml(default_catalog())
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            console.print(f"[red]{output} is out of sync with the catalogue[/]")
            raise typer.Exit(1)
        console.print(f"{output} is in sync")
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output} ({text.count('flow_name:')} deployments)")


SIGTERM_GRACE = 8.0  # seconds the runner gets to stop cleanly before the process exits


@friendly_errors
def serve(
    limit: Annotated[int, typer.Option(help="max concurrent flow runs")] = 8,
    poll: Annotated[int, typer.Option(help="seconds between polls for new runs")] = 2,
    items: Annotated[
        str | None,
        typer.Option(help="comma-separated item codes: serve only their item flows"),
    ] = None,
) -> None:
    """Serve every deployment of the one list (items, review and the recurring jobs:
    supervise, citizen-clock, risk-patrols, monthly-assessment, seal-trail) from one process;
    with ``--items``, only those items' flows besides review and the recurring jobs."""
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", str(poll))
    from gridgov.domain.errors import InvalidInput
    from gridgov.flows.deployments import deployment_specs, runner_deployments
    from gridgov.runtime import default_runtime

    rt = default_runtime()
    rt.init_ledger()
    chosen = None if items is None else {c.strip() for c in items.split(",") if c.strip()}
    unknown = sorted((chosen or set()) - {i.code for i in rt.catalog.latest()})
    if unknown:
        raise InvalidInput(f"unknown item codes: {', '.join(unknown)}", field="--items")
    deps = runner_deployments(
        deployment_specs(
            rt.catalog, rt.settings.supervise_every, rt.settings.seal_cron, items=chosen
        )
    )
    console.print(
        f"serving {len(deps)} deployments, at most {limit} runs at once; "
        f"督办 sweep every {rt.settings.supervise_every} s"
    )
    asyncio.run(_serve(deps, limit))


async def _serve(deployments: list[Any], limit: int) -> None:
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    class GridRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            # Prefect's handler asks the API to cancel our runs; with the server gone that can
            # hang. An operator's SIGTERM must stop the process within 10 s regardless: the
            # runs it abandons are owed runs, and the sweep's reconciler starts them again.
            timer = threading.Timer(SIGTERM_GRACE, os._exit, args=(0,))
            timer.daemon = True
            timer.start()
            super().handle_sigterm(*args, **kwargs)

    # Pausing schedules on shutdown would stop every other serve process's sweeps too.
    runner = GridRunner(limit=limit, pause_on_shutdown=False)
    # ~190 deployments one after another took minutes on a busy server: register a few at once.
    gate = asyncio.Semaphore(8)

    async def add(deployment: Any) -> None:
        async with gate:
            await runner.aadd_deployment(deployment)

    await asyncio.gather(*(add(d) for d in deployments))
    with suppress(KeyboardInterrupt, TerminationSignal):
        await runner.start()


@friendly_errors
def demo(days: Annotated[int, typer.Option(min=1, max=10)] = 3) -> None:
    """Run a small district for a few simulated days through real flow runs."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the progress bar tells the story
    from gridgov.runtime import default_runtime
    from gridgov.simulate.demo import demo_start, run_demo

    rt = default_runtime()
    rt.init_ledger()
    tz = ZoneInfo(rt.settings.timezone)
    start = demo_start(datetime.now(tz), days)
    console.print(f"ledger: {rt.engine.url.render_as_string(hide_password=True)}")
    console.print(
        f"simulating {days} days from {start:%Y-%m-%d %H:%M} (Asia/Shanghai); "
        "starting Prefect's local server…"
    )
    t0 = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("flow runs", total=None)

        def tick(label: str) -> None:
            progress.update(task, advance=1, description=label[:70])

        result = asyncio.run(run_demo(rt, start, days=days, on_progress=tick))
    elapsed = time.perf_counter() - t0
    table = Table(
        title=f"Demo: {len(result.cases)} cases, {result.flow_runs} flow runs "
        f"({result.sweeps} supervision sweeps, {result.sweep_actions} ladder "
        f"actions) in {elapsed:.0f} s"
    )
    for col in ("case", "story", "tier", "status", "with", "ret/ext/rew", "ladder", "rating"):
        table.add_column(col, overflow="fold")
    for story, c in result.cases:
        steps = [
            e.kind
            for e in rt.book.trail(c.case_no)
            if e.kind in ("reminded", "supervised", "escalated")
        ]
        table.add_row(
            c.case_no,
            story.title,
            str(c.tier),
            c.status,
            c.assignee,
            f"{c.return_count}/{c.extension_count}/{c.rework_count}",
            ("overdue " if c.overdue else "") + ">".join(s[:3] for s in steps),
            c.rating or "",
        )
    console.print(table)
    console.print(
        "Look at the runs in the Prefect UI: run [bold]prefect server start[/] and open "
        "http://127.0.0.1:4200/runs — filter by tag (holder:AJ, overdue, tier:3, community:…) "
        "or search a case number; each case has a markdown artifact (key case-<number>) with "
        "its trail, and every sweep publishes the 督办 boards (keys board-district, "
        "board-dept-<code>, board-community-<code>): in the UI, Flows → Last run of "
        "board-督办看板 lists them all (see docs/boards.md)."
    )
