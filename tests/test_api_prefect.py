"""The gateway with real flow runs (Prefect test harness), and Prefect's own REST API.

* inline: each request runs the case's next step in the gateway process;
* deployment: each request schedules a run of ``item-<code>/gridgov`` (what ``gridgov serve``
  picks up); a failed start is a 202 "recorded, run pending" (the run is owed) whose retry,
  with the same key, starts it;
* a department's own system calling ``POST /api/deployments/{id}/create_flow_run``.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from gridgov import clock
from gridgov.api.app import create_app
from gridgov.domain.enums import Role, Source, Tier
from gridgov.domain.lifecycle import Actor
from gridgov.flows.casework import waits_of
from gridgov.runtime import Runtime
from tests.api_support import World, build_world, serve

pytestmark = pytest.mark.prefect


@pytest.fixture
def pworld(rt: Runtime) -> World:
    return build_world(rt)


def step(http: httpx.Client, w: World, who: str, path: str, body: Any = None) -> dict[str, Any]:
    r = http.post(path, json=body, headers=w.auth(who))
    assert r.status_code in (200, 201), r.text
    data: dict[str, Any] = r.json()
    return data


async def test_inline_mode_runs_each_step_as_a_flow_run(pworld: World) -> None:
    w = pworld
    # Inline mode answers when the step's flow run has finished. In one CI run the harness's
    # SQLite server stalled the last run's finish for over 60 s (its log: "database is
    # locked"), and a 60 s client timeout failed the test with every earlier step right.
    # A generous timeout: this test is about what runs, not how fast.
    with (
        serve(create_app(None, "inline")) as url,
        httpx.Client(base_url=url, timeout=300) as http,
    ):
        made = step(http, w, "citizen", "/v1/cases", w.new_case())
        no = made["case"]["case_no"]
        assert made["run"]["mode"] == "inline" and made["run"]["waits"] == "AwaitingDepartment"
        assert made["case"]["status"] == "dispatched" and made["case"]["assignee"] == w.lead
        states = [
            step(http, w, "lead", f"/v1/cases/{no}/{a}", b)["run"]["waits"]
            for a, b in [
                ("acknowledge", None),
                ("arrive", None),
                ("complete", {"evidence": ["photo://done"]}),
            ]
        ]
        assert states == ["AwaitingArrival", "AwaitingCompletion", "AwaitingReview"]
        passed = step(http, w, "reviewer", f"/v1/cases/{no}/review-pass")
        assert passed["run"]["waits"] == "AwaitingRating"
        assert passed["case"]["status"] == "evaluating"
        rated = step(http, w, "citizen", f"/v1/cases/{no}/rate", {"rating": "satisfied"})
        assert rated["run"]["waits"] == "Closed" and rated["case"]["status"] == "closed"
        run_ids = {made["run"]["flow_run_id"], rated["run"]["flow_run_id"]}
    async with get_client() as client:
        for run_id in run_ids:
            run = await client.read_flow_run(UUID(run_id))
            assert no in run.name and f"community:{w.community}" in run.tags
    kinds = [e.kind for e in w.rt.book.trail(no)]
    assert kinds[-4:] == ["review_started", "review_passed", "rated", "closed"]


async def test_deployment_mode_schedules_runs_and_a_failed_start_is_retried(
    pworld: World,
) -> None:
    from gridgov.flows.deployments import DEPLOYMENT
    from gridgov.flows.items import item_flow

    w = pworld
    # An item no other test deploys, so its deployment is missing until we apply it.
    item = max(
        (
            i
            for i in w.rt.catalog.in_force(clock.now().date())
            if i.tier == Tier.DEPARTMENT and Source.CITIZEN in i.sources
        ),
        key=lambda i: i.code,
    )
    async with get_client() as client:  # the harness is shared by the whole session
        with suppress(ObjectNotFound):
            old = await client.read_deployment_by_name(f"item-{item.code}/{DEPLOYMENT}")
            await client.delete_deployment(old.id)
    body = w.new_case(item_code=item.code)
    headers = w.auth("citizen") | {"Idempotency-Key": "dep-1"}
    with serve(create_app(w.rt, "deployment")) as url, httpx.Client(base_url=url) as http:
        failed = http.post("/v1/cases", json=body, headers=headers)
        assert failed.status_code == 202, failed.text
        assert failed.json()["run"]["pending"] is True
        assert "ObjectNotFound" in failed.json()["run"]["detail"]
        assert w.counts()[0] == 1  # recorded first
        await (await item_flow(item.code).ato_deployment(DEPLOYMENT)).apply()  # type: ignore[misc]
        retried = http.post("/v1/cases", json=body, headers=headers)
        assert retried.status_code == 200, retried.text
        out = retried.json()
        assert out["replayed"] is True and out["run"]["mode"] == "deployment"
        assert out["run"]["state"] == "Scheduled"
        no = out["case"]["case_no"]
        assert w.counts()[0] == 1
    async with get_client() as client:
        run = await client.read_flow_run(UUID(out["run"]["flow_run_id"]))
    assert run.parameters["case_no"] == no and run.parameters["answer"] is None
    assert run.state is not None and run.state.is_scheduled()
    assert f"community:{w.community}" in run.tags
    assert w.rt.book.get(no).status == "reported"  # no worker here picks it up


async def test_a_department_system_starts_a_deployment_through_prefects_rest_api(
    pworld: World,
) -> None:
    """docs/api.md: POST /api/deployments/{id}/create_flow_run with the answer, then a worker
    (here: the engine, in this process) runs it and the answer lands in the ledger."""
    from prefect.flow_engine import run_flow

    from gridgov.flows.deployments import DEPLOYMENT
    from gridgov.flows.items import item_flow

    w = pworld
    flow = item_flow(w.item.code)
    deployment_id = await (await flow.ato_deployment(DEPLOYMENT)).apply()  # type: ignore[misc]
    citizen = Actor(Role.CITIZEN, "citizen-app")
    no = w.rt.book.open_case(w.new_case(), citizen, clock.now(), "rest-report").case.case_no
    w.dispatch(no)
    at = datetime.now(UTC)
    answer = {
        "kind": "acknowledged",
        "role": "department",
        "actor": "cg-case-system",
        "department": w.lead,
        "key": "cg-system:ack:1",
        "payload": {"note": "accepted by our dispatcher"},
    }
    api = str(PREFECT_API_URL.value()).rstrip("/")
    body = {
        "parameters": {"case_no": no, "answer": answer, "at": at.isoformat()},
        # The department's system retries with the same key; Prefect answers with the one run.
        "idempotency_key": f"cg-system:ack:{uuid4()}",
    }
    async with httpx.AsyncClient(base_url=api) as prefect:
        for attempt in range(5):
            r = await prefect.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
            # Prefect's embedded SQLite server answers 503 when its database is busy (seen
            # under CI load): a client retries, as docs/api.md tells department systems to.
            if r.status_code != 503:
                break
            await asyncio.sleep(0.5 * (attempt + 1))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["state"]["type"] == "SCHEDULED"
    assert created["parameters"]["answer"]["kind"] == "acknowledged"
    async with get_client() as client:
        flow_run = await client.read_flow_run(UUID(created["id"]))
        state = await run_flow(flow, flow_run=flow_run, return_type="state")  # type: ignore[misc]
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=no))
        )
    assert state.name == "Completed" and await waits_of(state) == "AwaitingArrival"
    assert UUID(created["id"]) in {x.id for x in runs}
    ack = w.rt.book.trail(no)[-1]
    assert (ack.kind, ack.actor, ack.department) == ("acknowledged", "cg-case-system", w.lead)
    assert ack.idempotency_key == "cg-system:ack:1"


async def test_an_assignment_whose_flow_did_not_start_is_assigned_again(pworld: World) -> None:
    """Deployment mode, the item's deployment missing: the assignment is recorded, the start
    fails (202, run pending); repeating the assignment starts the flow and makes no second
    case."""
    from gridgov.flows.deployments import DEPLOYMENT
    from gridgov.flows.items import item_flow
    from tests.test_api_intake import request

    w, code = pworld, "BJ-GY-003"
    async with get_client() as client:
        with suppress(ObjectNotFound):
            old = await client.read_deployment_by_name(f"item-{code}/{DEPLOYMENT}")
            await client.delete_deployment(old.id)
    with serve(create_app(w.rt, "deployment")) as url, httpx.Client(base_url=url) as http:
        queued = http.post(
            "/v1/intake/requests", json=request(w, "p1", "井盖坏了"), headers=w.auth("citizen")
        ).json()
        assert queued["status"] == "queued"
        path, pick = f"/v1/intake/requests/{queued['id']}/assign", {"item_code": code}
        failed = http.post(path, json=pick, headers=w.auth("dispatcher"))
        assert failed.status_code == 200 and failed.json()["run"]["pending"] is True
        cases = w.counts()[0]
        await (await item_flow(code).ato_deployment(DEPLOYMENT)).apply()  # type: ignore[misc]
        again = http.post(path, json=pick, headers=w.auth("dispatcher"))
        assert again.status_code == 200, again.text
        out = again.json()
        assert out["status"] == "assigned" and out["run"]["state"] == "Scheduled"
        assert w.counts()[0] == cases
