"""``gridgov demo``, ``gridgov serve`` and ``gridgov deployments generate``."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated
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


@friendly_errors
def serve(
    limit: Annotated[int, typer.Option(help="max concurrent flow runs")] = 8,
    poll: Annotated[int, typer.Option(help="seconds between polls for new runs")] = 2,
) -> None:
    """Serve every item, review and supervision deployment from one process."""
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", str(poll))
    from prefect import serve as prefect_serve
    from prefect.types.entrypoint import EntrypointType

    from gridgov.flows.casework import item_tags, review_case, supervise
    from gridgov.flows.deployments import DEPLOYMENT, SUPERVISION_INTERVAL
    from gridgov.flows.items import ITEM_FLOWS
    from gridgov.runtime import default_runtime

    default_runtime().init_ledger()
    deps = [
        supervise.to_deployment(
            DEPLOYMENT, interval=SUPERVISION_INTERVAL, tags=["gridgov", "supervision"]
        ),
        review_case.to_deployment(DEPLOYMENT, tags=["gridgov", "review"]),
    ]
    catalog = default_runtime().catalog
    deps += [
        f.to_deployment(
            DEPLOYMENT,
            tags=["gridgov", *item_tags(catalog.latest_of(code))],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for code, f in ITEM_FLOWS.items()
    ]
    console.print(f"serving {len(deps)} deployments, at most {limit} runs at once")
    prefect_serve(*deps, limit=limit)  # type: ignore[arg-type]


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
        "http://127.0.0.1:4200/runs — filter by tag (tier:3, dept:CG, community:…) or search "
        "a case number; each case has a markdown artifact (key case-<number>) with its trail, "
        "and the supervision sweeps a table artifact (key supervision-sweep)."
    )
