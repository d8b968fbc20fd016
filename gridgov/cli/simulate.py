"""``gridgov simulate``: a seeded synthetic district (Guangming-shaped) for N days."""

from __future__ import annotations

import asyncio
import math
import os
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridgov.cli.common import console, friendly_errors


class Engine(StrEnum):
    FLOWS = "flows"
    INLINE = "inline"


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.1%}"


@friendly_errors
def simulate(
    days: Annotated[int, typer.Option(min=1, max=366, help="simulated days")] = 3,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same district)")] = 7,
    engine: Annotated[Engine, typer.Option(help="flows: real flow runs; inline: no Prefect")] = (
        Engine.INLINE
    ),
    config: Annotated[Path | None, typer.Option(help="YAML over the calibrated defaults")] = None,
    scale: Annotated[float | None, typer.Option(help="multiply the daily volumes")] = None,
) -> None:
    """Run a synthetic district through the real flows (or inline) in accelerated time."""
    from gridgov.clock import SimClock, use_clock
    from gridgov.runtime import default_runtime
    from gridgov.simulate.config import load_config
    from gridgov.simulate.engine import Simulation
    from gridgov.simulate.executors import Executor, FlowExecutor, InlineExecutor
    from gridgov.simulate.outcomes import outcomes

    cfg = load_config(config)
    if scale is not None:
        cfg = cfg.model_copy(update={"scale": scale})
    if engine == Engine.FLOWS:
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    rt = default_runtime()
    rt.init_ledger()
    ex: Executor = FlowExecutor(rt) if engine == Engine.FLOWS else InlineExecutor(rt)
    sim = Simulation(ex, cfg, seed)
    console.print(
        f"ledger: {rt.engine.url.render_as_string(hide_password=True)}\n"
        f"simulating {days} days of {len(sim.district.grids)} grids from "
        f"{cfg.start:%Y-%m-%d} (scale {cfg.scale:g}, engine {engine.value}, seed {seed})"
    )
    t0 = time.perf_counter()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("starting", total=None)

        def tick(label: str) -> None:
            bar.update(task, description=label[:80])

        with use_clock(SimClock(cfg.start)):
            stats = asyncio.run(sim.run(days, progress=tick))
    elapsed = time.perf_counter() - t0
    out = outcomes(rt.engine, stats.started, stats.ended)
    table = Table(title=f"{days} simulated days in {elapsed:.0f} s")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for src, n in sorted(out.by_source.items()):
        table.add_row(f"cases from {src}", str(n))
    rows = [
        ("answers (steps)", str(stats.steps)),
        ("supervision sweeps / ladder steps", f"{stats.sweeps} / {stats.ladder_actions}"),
        ("machine events / merged repeats", f"{stats.machine_rows} / {stats.machine_repeats}"),
        ("citizen requests queued for the dispatcher", str(stats.queued_requests)),
        ("resolution (closed ÷ due, 1 day grace)", f"{_pct(out.resolution_rate)} of {out.due}"),
        ("closed on time", _pct(out.on_time_rate)),
        (
            "satisfaction (callbacks)",
            f"{_pct(out.satisfaction_rate)} of {sum(out.ratings.values())}",
        ),
        ("refused steps", str(stats.errors)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    clock = Table(title="Citizen clock (citizen and hotline cases)")
    for col in ("stage", "on time", "late", "pending", "not yet"):
        clock.add_column(col, justify="right" if col != "stage" else "left")
    for stage, c in out.citizen_clock.items():
        clock.add_row(stage, *(str(c[k]) for k in ("on_time", "late", "pending", "not_yet")))
    console.print(clock)
    if engine == Engine.FLOWS and isinstance(ex, FlowExecutor):
        console.print(f"{ex.runs} flow runs; see them with `prefect server start`.")
