"""A real ``prefect server``'s scheduler runs the 督办 sweep on its own (issue 12).

Under Prefect 3.8.8 with SQLAlchemy 2.1 the server's scheduler failed every loop and no
scheduled run was ever created, while every in-process test stayed green. Here nobody starts
a sweep: the server schedules ``supervise/gridgov`` from the deployment list that
``gridgov serve`` registers, the runner picks the run up, and the sweep escalates a case in
the PostgreSQL ledger. Then ``gridgov serve`` must stop on SIGTERM with the server gone.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import select

from gridgov import clock
from gridgov.domain.enums import Role, Source, Tier
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.ledger.models import OwedRun
from gridgov.ledger.owed import owing
from gridgov.runtime import Runtime
from tests.conftest import PG_URL
from tests.production.harness import gridgov_serve, pg_database, prefect_server, wait_for

pytestmark = [pytest.mark.production, pytest.mark.postgres]


def open_overdue_case(rt: Runtime) -> str:
    """A dispatched tier-3 case reported 30 days ago: its whole ladder is due now."""
    then = clock.now() - timedelta(days=30)
    item = next(
        i
        for i in sorted(rt.catalog.in_force(then.date()), key=lambda i: i.code)
        if i.tier == Tier.DEPARTMENT and Source.PATROL in i.sources
    )
    grid = min((u for u in rt.catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    case = rt.book.open_case(
        {"item_code": item.code, "community": grid.parent, "source": "patrol", "reporter": "p"},
        Actor(Role.PATROLLER, "p"),
        then,
        "overdue-1",
    ).case
    rt.book.act(case.case_no, EventKind.DISPATCHED, Actor(Role.DISPATCHER, "d"), then, "d-1")
    return case.case_no


async def scheduled_sweeps(api_url: str) -> list[tuple[bool, str | None, str]]:
    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["gridgov"])),
            )
            sweep_ids = {
                d.id
                for d in await client.read_deployments()
                if d.name == "gridgov" and d.flow_id in {r.flow_id for r in runs}
            }
            flows = {f.id: f.name for f in await client.read_flows()}
    return [
        (r.auto_scheduled, r.idempotency_key, r.state_type.value if r.state_type else "")
        for r in runs
        if r.deployment_id in sweep_ids and flows.get(r.flow_id) == "supervise"
    ]


def open_stranded_case(rt: Runtime) -> str:
    """A report recorded 10 minutes ago whose run never started (the gateway crashed)."""
    then = clock.now() - timedelta(minutes=10)
    item = next(
        i
        for i in sorted(rt.catalog.in_force(then.date()), key=lambda i: i.code)
        if i.tier == Tier.DEPARTMENT and Source.CITIZEN in i.sources
    )
    grid = min((u for u in rt.catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    new = {"item_code": item.code, "community": grid.parent, "source": "citizen", "reporter": "c"}
    case = rt.book.open_case(new, Actor(Role.CITIZEN, "c"), then, "stranded-1", owing(None)).case
    return case.case_no


def test_server_scheduler_runs_the_sweep_that_escalates(pg_ledger: Runtime, tmp_path: Path) -> None:
    case_no = open_overdue_case(pg_ledger)
    stranded = open_stranded_case(pg_ledger)
    assert "escalated" not in [e.kind for e in pg_ledger.book.trail(case_no)]
    ledger_url = pg_ledger.engine.url.render_as_string(hide_password=False)
    with pg_database(PG_URL) as prefect_db, prefect_server(tmp_path, prefect_db) as server:
        items = sorted({pg_ledger.book.get(no).item_code for no in (case_no, stranded)})
        serve = gridgov_serve(
            server,
            ledger_url,
            tmp_path / "serve.log",
            items=items,  # registering ~190 item deployments was most of serve's start-up
            GRIDGOV_SUPERVISE_EVERY="15",
            GRIDGOV_OWED_RUN_GRACE="5",
        )
        try:

            def escalated() -> bool:
                assert serve.alive(), serve.tail()
                return "escalated" in [e.kind for e in pg_ledger.book.trail(case_no)]

            wait_for(f"a scheduled sweep to escalate {case_no}", escalated, timeout=300)
            sweeps = wait_for(
                "the completed scheduled sweep in Prefect",
                lambda: [
                    s
                    for s in asyncio.run(scheduled_sweeps(server.api_url))
                    if s[0] and s[2] == "COMPLETED"
                ],
                timeout=60,
            )
            # Created by the server's scheduler, not by a person or a test.
            assert all(key and key.startswith("scheduled ") for _, key, _ in sweeps)
            kinds = [e.kind for e in pg_ledger.book.trail(case_no)]
            assert kinds.count("escalated") == 1 and kinds.count("supervised") == 1
            assert pg_ledger.book.get(case_no).overdue

            # The sweep's reconciler started the stranded report's run as a deployment run.
            wait_for(
                f"the reconciler to run {stranded}'s owed report",
                lambda: pg_ledger.book.get(stranded).status == "dispatched",
                timeout=240,
            )

            def settled() -> bool:
                with pg_ledger.book.factory() as s:
                    at = s.scalar(select(OwedRun.settled_at).where(OwedRun.case_no == stranded))
                    return at is not None

            wait_for("the owed run settled", settled, timeout=60)
            # Started by the reconciler (attempts) and paid by a named run: the run records its
            # id when it settles, even where the reconciler's start timed out under load.
            with pg_ledger.book.factory() as s:
                row = s.scalar(select(OwedRun).where(OwedRun.case_no == stranded))
                assert row is not None and row.attempts >= 1 and row.flow_run_id

            # The server goes away; an operator's SIGTERM still stops serve.
            server.stop()
            serve.signal(signal.SIGTERM)
            try:
                assert serve.popen is not None
                code = serve.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"gridgov serve ignored SIGTERM:\n{serve.tail()}")
            assert code in (0, -signal.SIGTERM), serve.tail()
        finally:
            serve.kill_group()
