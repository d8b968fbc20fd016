"""Every deployment, from one list: ``gridgov serve`` and the checked-in ``prefect.yaml``.

The recurring jobs (``supervise``, ``citizen-clock``, ``risk-patrols``, ``monthly-assessment``,
``seal-trail``)
carry their schedules here and nowhere else, so what a worker pool runs from ``prefect.yaml``
and what ``gridgov serve`` runs are the same jobs on the same schedules. See
docs/operations.md.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from gridgov.flows.casework import flow_name, function_name, item_tags
from gridgov.item_catalog.loader import Catalog

DEPLOYMENT = "gridgov"  # deployment name under each flow: item-SJ-SR-001/gridgov
WORK_POOL = "gridgov-process"
SUPERVISE_EVERY = 60  # seconds between 督办 sweeps in prefect.yaml (GRIDGOV_SUPERVISE_EVERY)
CITIZEN_CLOCK_EVERY = 60  # the 10-minute SMS promise is checked to the minute
RISK_PATROLS_CRON = "30 7 * * *"  # daily, before office hours open
MONTHLY_CRON = "0 2 1 * *"  # 02:00 on the 1st: the month before is complete
SEAL_CRON = "15 0 * * *"  # daily checkpoint of the trail (GRIDGOV_SEAL_CRON)
SCHEDULE_TZ = "Asia/Shanghai"
TIER_ZH = {1: "一级事项 现场纠正", 2: "二级事项 社区办理", 3: "三级事项 部门办理"}
# The supervise deployment's page (Description tab) is where a supervisor finds the boards:
# the UI's sidebar has no Artifacts entry in Prefect 3.8.8. Relative links stay on the UI.
BOARDS_DESCRIPTION = (
    "督办 sweep of the ledger, owed runs and pending notices. 每次巡查更新督办看板:"
    "[全区督办看板](/artifacts/key/board-district) · 部门看板 `board-dept-<代码>`(如 "
    "[城管](/artifacts/key/board-dept-cg))· 社区看板 `board-community-<代码>` · "
    "[全部看板](/artifacts)。打开看板后点最上面(最新)的版本。"
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """An interval in seconds, or a cron line in a time zone (one of the two)."""

    interval: int | None = None
    cron: str | None = None
    timezone: str = SCHEDULE_TZ

    def as_yaml(self) -> dict[str, Any]:
        if self.interval is not None:
            return {"interval": self.interval}
        return {"cron": self.cron, "timezone": self.timezone}


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    flow_name: str
    module: str  # importable module holding the flow (serve() and workers re-import it)
    attr: str
    tags: list[str]
    description: str
    schedule: Schedule | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    # No Prefect concurrency limit on any deployment: a run killed with kill -9 keeps its
    # slot for Prefect's 300 s lease and every run scheduled meanwhile is cancelled. The
    # recurring jobs keep apart by the ledger's hold instead (gridgov.flows.holding: a 60 s
    # lease renewed while the job works); a run that finds it taken ends Completed at once.

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{DEPLOYMENT}"

    @property
    def entrypoint(self) -> str:
        """File entrypoint for prefect.yaml (workers pull the project directory)."""
        return f"{self.module.replace('.', '/')}.py:{self.attr}"

    def load(self) -> Any:
        return getattr(importlib.import_module(self.module), self.attr)


def recurring_specs(
    supervise_every: int = SUPERVISE_EVERY, seal_cron: str = SEAL_CRON
) -> list[DeploymentSpec]:
    """The scheduled jobs: nothing is reminded, checked or assessed unless these run."""
    return [
        DeploymentSpec(
            "supervise",
            "gridgov.flows.supervision",
            "supervise",
            ["gridgov", "supervision", "督办看板"],
            BOARDS_DESCRIPTION,
            Schedule(interval=supervise_every),
        ),
        DeploymentSpec(
            "citizen-clock",
            "gridgov.flows.intake",
            "citizen_clock",
            ["gridgov", "citizen"],
            "Citizen promises newly missed (SMS 10 min, appointment 30 min, 24 h, callback)",
            Schedule(interval=CITIZEN_CLOCK_EVERY),
        ),
        DeploymentSpec(
            "risk-patrols",
            "gridgov.flows.intake",
            "risk_patrols",
            ["gridgov", "risk"],
            "Patrols due by risk grade become tasks for the grid",
            Schedule(cron=RISK_PATROLS_CRON),
        ),
        DeploymentSpec(
            "monthly-assessment",
            "gridgov.flows.assessment",
            "monthly_assessment",
            ["gridgov", "assessment"],
            "月度考核 of the month before: reports and artifacts",
            Schedule(cron=MONTHLY_CRON),
        ),
        DeploymentSpec(
            "seal-trail",
            "gridgov.flows.trail",
            "seal_trail",
            ["gridgov", "audit"],
            "Signed checkpoint of the tamper-evident trail, appended to the checkpoint file "
            "(needs GRIDGOV_SEAL_KEY_FILE on its worker only; docs/audit-trail.md)",
            Schedule(cron=seal_cron),
        ),
    ]


def deployment_specs(
    catalog: Catalog,
    supervise_every: int = SUPERVISE_EVERY,
    seal_cron: str = SEAL_CRON,
    items: set[str] | None = None,
) -> list[DeploymentSpec]:
    """Every deployment; with ``items``, the item flows of those catalogue codes only (a
    worker serving part of the catalogue; the recurring jobs and review are always there)."""
    specs = recurring_specs(supervise_every, seal_cron)
    specs.append(
        DeploymentSpec(
            "review-case",
            "gridgov.flows.casework",
            "review_case",
            ["gridgov", "review"],
            "复核 and 回访 of a case",
        )
    )
    for item in catalog.latest():
        if items is not None and item.code not in items:
            continue
        specs.append(
            DeploymentSpec(
                flow_name(item.code),
                "gridgov.flows.items",
                function_name(item.code),
                ["gridgov", *item_tags(item)],
                f"{item.name_zh} / {item.name_en} — {TIER_ZH[int(item.tier)]}(tier "
                f"{int(item.tier)}),牵头单位 {item.lead_department}",
            )
        )
    return specs


def runner_deployments(specs: list[DeploymentSpec]) -> list[Any]:
    """``RunnerDeployment``s for ``serve()``, loaded by module path (serve re-imports them)."""
    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType

    out = []
    for spec in specs:
        kwargs: dict[str, Any] = {}
        if spec.schedule is not None and spec.schedule.interval is not None:
            kwargs["schedule"] = Interval(spec.schedule.interval)
        elif spec.schedule is not None and spec.schedule.cron is not None:
            kwargs["schedule"] = Cron(spec.schedule.cron, timezone=spec.schedule.timezone)
        out.append(
            spec.load().to_deployment(
                DEPLOYMENT,
                tags=spec.tags,
                description=spec.description,
                parameters=spec.parameters or None,
                entrypoint_type=EntrypointType.MODULE_PATH,
                **kwargs,
            )
        )
    return out


def render_prefect_yaml(catalog: Catalog) -> str:
    """The checked-in prefect.yaml; a test fails when it is out of sync with the catalogue."""
    deployments = []
    for spec in deployment_specs(catalog):
        d: dict[str, Any] = {
            "name": DEPLOYMENT,
            "flow_name": spec.flow_name,
            "entrypoint": spec.entrypoint,
            "tags": spec.tags,
            "description": spec.description,
            "work_pool": {"name": WORK_POOL},
        }
        if spec.schedule:
            d["schedules"] = [spec.schedule.as_yaml()]
        deployments.append(d)
    doc = {
        "name": "prefect-gridgov",
        "prefect-version": "3.8.8",
        "pull": [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": "{{ $GRIDGOV_PROJECT_DIR }}"
                }
            }
        ],
        "deployments": deployments,
    }
    header = (
        "# Generated by `gridgov deployments generate` from the item catalogue.\n"
        "# Do not edit by hand: tests/test_deployments.py fails when it is out of sync.\n"
    )
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
