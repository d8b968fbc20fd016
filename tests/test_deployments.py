"""prefect.yaml is generated from the catalogue and must stay in sync with it."""

from __future__ import annotations

from pathlib import Path

import yaml

from gridgov.flows.casework import function_name
from gridgov.flows.deployments import render_prefect_yaml
from gridgov.item_catalog.loader import DEFAULT_DIR, load_catalog

ROOT = Path(__file__).resolve().parents[1]


def test_prefect_yaml_is_in_sync_with_the_catalogue() -> None:
    expected = render_prefect_yaml(load_catalog(DEFAULT_DIR))
    current = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert current == expected, "run `gridgov deployments generate` and commit prefect.yaml"


def test_every_item_has_an_importable_entrypoint() -> None:
    import gridgov.flows.items as items

    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    catalog = load_catalog(DEFAULT_DIR)
    by_flow = {d["flow_name"]: d for d in doc["deployments"]}
    for code in catalog.codes:
        dep = by_flow[f"item-{code}"]
        path, name = dep["entrypoint"].split(":")
        assert path == "gridgov/flows/items.py" and name == function_name(code)
        assert getattr(items, name).name == f"item-{code}"
        assert f"tier:{int(catalog.latest_of(code).tier)}" in dep["tags"]
    assert {"supervise", "review-case"} <= set(by_flow)
    assert by_flow["supervise"]["schedules"][0]["interval"] > 0


def test_served_deployments_reload_by_entrypoint() -> None:
    """serve() re-imports each flow in a subprocess by its entrypoint: both forms resolve."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.types.entrypoint import EntrypointType

    from gridgov.flows.items import item_flow

    dep = item_flow("SJ-SR-001").to_deployment(
        "gridgov", entrypoint_type=EntrypointType.MODULE_PATH
    )
    assert dep.entrypoint == "gridgov.flows.items.item_sj_sr_001"
    assert load_flow_from_entrypoint(dep.entrypoint).name == "item-SJ-SR-001"
    assert (
        load_flow_from_entrypoint("gridgov/flows/items.py:item_sj_sr_001").name == "item-SJ-SR-001"
    )


def test_no_deployment_has_a_prefect_concurrency_limit() -> None:
    """A run killed with kill -9 would keep a Prefect slot for 300 s and every scheduled run
    meanwhile would be cancelled: the recurring jobs keep apart by the ledger's hold instead
    (tests/test_job_holds.py), in prefect.yaml and in ``gridgov serve`` alike."""
    from gridgov.flows.deployments import recurring_specs, runner_deployments

    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert not [d["flow_name"] for d in doc["deployments"] if "concurrency_limit" in d]
    served = runner_deployments(recurring_specs())
    assert {d.name for d in served} == {"gridgov"}
    assert [d.concurrency_limit for d in served] == [None] * len(served)
