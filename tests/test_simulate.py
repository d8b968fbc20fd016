"""The simulated district: configuration, calibrated outcomes, the audits, the flows engine."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gridgov.assessments.audit.runner import run_audit
from gridgov.assessments.period import Month
from gridgov.clock import SimClock, use_clock
from gridgov.domain.errors import InvalidInput
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.models import Case
from gridgov.ledger.risk_models import CitizenRequest, IntakeEvent
from gridgov.runtime import Runtime, build_runtime, default_runtime, reset_runtime
from gridgov.settings import Settings
from gridgov.simulate.config import Handler, Share, SimConfig, Volumes, load_config
from gridgov.simulate.engine import Simulation
from gridgov.simulate.executors import FlowExecutor, InlineExecutor
from gridgov.simulate.outcomes import outcomes

# Small patrol volume, many citizen requests: enough callbacks to measure satisfaction.
BUSY_CITIZENS = Volumes(patrol_per_grid=0.1, citizen=80, hotline=30, ai_camera_incidents=24)


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "sim.yaml"
    bad.write_text("default_department:\n  acknowledge: {median: -1}\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_config(bad)
    assert err.value.field == "default_department.acknowledge.median"
    bad.write_text("volumes: {field_fix_share: 0.8, community_share: 0.5}\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="field_fix_share"):
        load_config(bad)
    good = tmp_path / "ok.yaml"
    good.write_text("scale: 0.5\ndepartments: {CG: {stall_rate: 0.2}}\n", encoding="utf-8")
    cfg = load_config(good)
    assert cfg.scale == 0.5 and cfg.handler("CG").stall_rate == 0.2
    assert cfg.handler("ZJ") == cfg.default_department and cfg.handler("COMMUNITY") == cfg.community


def test_default_delays_are_mostly_on_time() -> None:
    cfg = SimConfig()
    assert cfg.default_department.acknowledge.late_share() < 0.05
    assert 0.03 < cfg.default_department.handle.late_share() < 0.1
    assert Share(median=2, sigma=0).late_share() == 1.0


@pytest.fixture
def sqlite_rt(tmp_path: Path, sqlite_template: Path, catalog: Catalog) -> Iterator[Runtime]:
    """The statistical run once, on SQLite (the same steps run on PostgreSQL below)."""
    path = tmp_path / "sim.sqlite3"
    shutil.copy(sqlite_template, path)
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"), catalog)
    yield rt
    rt.engine.dispose()


async def test_seeded_inline_run_lands_in_the_reported_range(sqlite_rt: Runtime) -> None:
    runtime = sqlite_rt
    cfg = SimConfig(volumes=BUSY_CITIZENS)
    stats = await Simulation(InlineExecutor(runtime), cfg, seed=11).run(3)
    out = outcomes(runtime.engine, stats.started, stats.ended)
    assert stats.errors == 0 and stats.sweeps == 72 and stats.ladder_actions > 0
    assert {"patrol", "citizen", "hotline", "ai_camera"} <= set(out.by_source)
    assert stats.machine_repeats > 0 and stats.queued_requests > 0
    # DOMAIN.md: resolution ≈ 99 % (Guangming 99.2 %), satisfaction ≈ 98 % (Fenghuang > 98 %).
    assert out.due > 250 and 0.97 <= out.resolution_rate <= 1.0, out.resolution_rate
    assert sum(out.ratings.values()) > 120 and 0.96 <= out.satisfaction_rate <= 1.0
    assert out.citizen_clock["notice"]["late"] == 0
    with runtime.book.factory() as s:
        assert s.scalar(select(func.count()).select_from(IntakeEvent)) == stats.machine_rows
        assert s.scalar(select(func.count()).select_from(CitizenRequest)) > 0
    # The ledger feeds the audits unchanged: every check holds.
    report = run_audit(runtime.engine, runtime.calendar, Month(2026, 9), now=stats.ended)
    assert report.success, [(r.check, r.examples[:2]) for r in report.failed]


async def test_departments_that_stall_lower_resolution(runtime: Runtime) -> None:
    sloppy = Handler(stall_rate=0.5, handle=Share(median=1.2, sigma=0.5))
    cfg = SimConfig(
        volumes=Volumes(patrol_per_grid=0.15, citizen=10, hotline=5),
        default_department=sloppy,
        community=sloppy,
    )
    stats = await Simulation(InlineExecutor(runtime), cfg, seed=3).run(3)
    out = outcomes(runtime.engine, stats.started, stats.ended)
    assert out.resolution_rate < 0.85 and out.on_time_rate < 0.8  # calibrated: 0.99, 0.96


@pytest.fixture
def flow_rt(
    tmp_path: Path, sqlite_template: Path, prefect_server: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """The default ledger in ``GRIDGOV_HOME`` (a copy of the migrated template), as the flows
    find it through the process-wide runtime."""
    shutil.copy(sqlite_template, tmp_path / "ledger.sqlite3")
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path))
    monkeypatch.delenv("GRIDGOV_DATABASE_URL", raising=False)
    reset_runtime()
    rt = default_runtime()
    yield rt
    rt.engine.dispose()
    reset_runtime()


@pytest.mark.prefect
async def test_flows_engine_runs_every_path_as_flow_runs(flow_rt: Runtime) -> None:
    cfg = SimConfig(
        volumes=Volumes(
            patrol_per_grid=0.02,
            citizen=4,
            hotline=0,
            ai_camera_incidents=4,
            iot_incidents=0,
            unclear_request_share=0,
        ),
        sweep_every_minutes=360,
        office_share=1.0,
    )
    ex = FlowExecutor(flow_rt)
    with use_clock(SimClock(cfg.start)):
        stats = await Simulation(ex, cfg, seed=5).run(0.5)
    assert stats.errors == 0 and stats.sweeps == 2
    assert ex.runs >= stats.sweeps * 2 + sum(stats.reports.values())
    with flow_rt.book.factory() as s:
        sources = set(s.scalars(select(Case.source)))
        assert {"patrol", "citizen", "ai_camera"} <= sources
        moved = s.scalar(select(func.count()).select_from(Case).where(Case.status != "reported"))
    assert moved  # dispatched (or further) by their item flows
    out = outcomes(flow_rt.engine, stats.started, stats.ended + timedelta(days=2))
    assert out.cases == sum(stats.reports.values())
