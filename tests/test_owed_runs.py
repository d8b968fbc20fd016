"""Owed runs (issue 12): a recorded step is never stranded, and a late run completes.

The run an answer needs is written in the answer's transaction; the run settles it; the
sweep's reconciler starts what is owed past the grace. Real flow runs on the Prefect test
harness, both backends.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gridgov import clock
from gridgov.api.app import create_app
from gridgov.domain.commands import Answer
from gridgov.domain.enums import Role
from gridgov.domain.errors import InvalidTransition, NotPermitted
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.flows.items import item_flow
from gridgov.flows.launch import Launcher, Mode, reconcile
from gridgov.ledger.models import OwedRun
from gridgov.ledger.supervision import sweep
from gridgov.runtime import Runtime
from tests.api_support import World, build_world, serve

pytestmark = pytest.mark.prefect
K = EventKind


def owed(rt: Runtime) -> list[tuple[str, str, bool]]:
    with rt.book.factory() as s:
        rows = s.scalars(select(OwedRun).order_by(OwedRun.id))
        return [(r.case_no, r.step, r.settled_at is not None) for r in rows]


def lead_answer(w: World, kind: EventKind, key: str, **payload: Any) -> Answer:
    return Answer(
        kind=kind,
        role="department",
        actor="officer-1",
        department=w.lead,
        payload=payload,
        key=key,
    )


@pytest.fixture
def pworld(rt: Runtime) -> World:
    return build_world(rt)


async def test_recorded_steps_owe_runs_that_the_reconciler_starts(pworld: World) -> None:
    w, rt = pworld, pworld.rt
    record_only = Launcher(rt, Mode.NONE)
    t0 = clock.now()
    case, started = await record_only.report(
        w.new_case(), Actor(Role.CITIZEN, "139"), t0, "owed-report"
    )
    assert started.pending and owed(rt) == [(case.case_no, "report", False)]
    # A refused answer writes nothing, not even a debt.
    with pytest.raises((InvalidTransition, NotPermitted)):
        await record_only.answer(case.case_no, lead_answer(w, K.ARRIVED, "too-early"), t0)
    assert len(owed(rt)) == 1
    # Within the grace nothing is started; past it the reconciler runs the report step.
    assert (
        await reconcile(rt, t0 + timedelta(seconds=5), Mode.INLINE)
        == type(await reconcile(rt, t0, Mode.INLINE))()
    )
    done = await reconcile(rt, t0 + timedelta(minutes=2), Mode.INLINE)
    assert done.started == 1
    assert rt.book.get(case.case_no).status == "dispatched"
    assert owed(rt) == [(case.case_no, "report", True)]
    # Settled: a later sweep starts nothing again.
    assert (await reconcile(rt, t0 + timedelta(minutes=10), Mode.INLINE)).started == 0
    kinds = [e.kind for e in rt.book.trail(case.case_no)]
    assert kinds.count("dispatched") == 1


async def test_the_run_that_settles_a_debt_names_itself(pworld: World) -> None:
    """A start that timed out on the caller's side may still have created the run (seen in
    CI under load): the run records its own id when it settles, so the row says who paid."""
    w, rt = pworld, pworld.rt
    t0 = clock.now()
    case, _ = await Launcher(rt, Mode.NONE).report(
        w.new_case(), Actor(Role.CITIZEN, "139"), t0, "self-named"
    )
    state = await item_flow(case.item_code)(case.case_no, None, t0, return_state=True)
    assert state.is_completed() and rt.book.get(case.case_no).status == "dispatched"
    with rt.book.factory() as s:
        row = s.scalar(select(OwedRun).where(OwedRun.case_no == case.case_no))
    assert row is not None and row.settled_at is not None and row.attempts == 0
    assert row.flow_run_id == str(state.state_details.flow_run_id)


async def test_late_runs_complete_instead_of_failing(pworld: World) -> None:
    """Runs that start after the case moved on: the report run after a reminder, and an
    acknowledge run after the arrival's run. Each does what it would have done on time."""
    w, rt = pworld, pworld.rt
    record_only, inline = Launcher(rt, Mode.NONE), Launcher(rt, Mode.INLINE)
    t0 = clock.now() - timedelta(days=3)
    case, _ = await record_only.report(w.new_case(), Actor(Role.CITIZEN, "139"), t0, "late-1")
    no = case.case_no
    # The sweep reminds (and more) while the report run has not run yet.
    ladder = sweep(rt.book, clock.now())
    assert {a.case_no for a in ladder} == {no}
    report = await inline.start(rt.book.get(no), None, t0, "late-1")
    assert report.waits == "Overdue"  # dispatched (late), dated after the ladder steps
    assert rt.book.get(no).status == "dispatched"
    trail = rt.book.trail(no)
    assert [e.kind for e in trail][-1] == "dispatched" and trail[-1].at >= trail[-2].at
    ack = lead_answer(w, K.ACKNOWLEDGED, "late-ack")
    arrive = lead_answer(w, K.ARRIVED, "late-arrive")
    t1 = clock.now()
    await record_only.answer(no, ack, t1)
    await record_only.answer(no, arrive, t1 + timedelta(seconds=1))
    later = await inline.start(rt.book.get(no), arrive, t1 + timedelta(seconds=1), arrive.key)
    late = await inline.start(rt.book.get(no), ack, t1, ack.key)  # the late one
    assert late.state == later.state == "Completed"  # the late run did not fail
    assert late.waits == later.waits  # and it says where the case waits now
    assert rt.book.get(no).status == "in_progress"
    assert all(settled for _, _, settled in owed(rt))


async def test_gateway_without_prefect_answers_at_once_and_owes_the_run(
    pworld: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Launch mode ``deployment`` pointed at a Prefect API that is not there: the step is
    recorded, the answer is 202 "run pending", and the run is owed."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    w = pworld
    with (
        temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}),  # nothing listens
        serve(create_app(w.rt, "deployment")) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        r = http.post("/v1/cases", json=w.new_case(), headers=w.auth("citizen"))
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["run"]["pending"] is True and body["case"]["status"] == "reported"
        no = body["case"]["case_no"]
        # An answer before the report run dispatched the case: a clear 409, not a 403.
        early = http.post(f"/v1/cases/{no}/acknowledge", headers=w.auth("lead"))
        assert early.status_code == 409, early.text
        assert early.json()["error"]["code"] == "not_dispatched_yet"
    assert owed(w.rt) == [(no, "report", False)]


def test_queued_runs_are_never_started_again_claimed_ones_after_stale() -> None:
    """A run still waiting for a worker (Scheduled, Late included) is left alone however old:
    re-starting it only queued more runs behind a busy worker (issue 12's drill). A run a
    worker claimed is started again once stale (its worker may be dead); a Crashed one, or
    one Prefect does not know, at once."""
    from gridgov.flows.launch import left_alone

    now, stale = clock.now(), timedelta(minutes=5)
    day_old = now - timedelta(days=1)
    assert left_alone("SCHEDULED", day_old, now, stale)
    assert left_alone("RUNNING", now - timedelta(minutes=1), now, stale)
    assert not left_alone("RUNNING", day_old, now, stale)
    assert not left_alone("PENDING", day_old, now, stale)
    assert not left_alone("CRASHED", now, now, stale)
    assert not left_alone(None, None, now, stale)


def test_unconfirmed_starts_reuse_the_gateways_key() -> None:
    """A start that timed out may have created its run: until a run id is recorded, the
    reconciler starts under attempt 0's key (Prefect returns the run that exists), then a new
    key per start (a Crashed run gets a fresh one)."""
    from gridgov.flows.launch import next_attempt

    assert next_attempt(0, None) == 0 and next_attempt(3, None) == 0
    assert next_attempt(1, "run-1") == 2
