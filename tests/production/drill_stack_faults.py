"""The production stack under faults (issue 12), lean: a real ``prefect server`` on its own
PostgreSQL database, two workers (``gridgov serve``, the item's flows, review and the
recurring jobs), the gateway with two uvicorn workers in deployment mode, a PostgreSQL ledger
and a local webhook receiver. Cases are driven through the gateway with their answers while:

* the gateway is ``kill -9``-ed during a burst of concurrent creates (clients retry with the
  same idempotency keys),
* one worker is ``kill -9``-ed (with its flow-run processes) right after a burst of answers,
* the Prefect server is stopped while the reviews come in, and started again,
* a sweep is ``kill -9``-ed mid-transaction (blocked on a row lock the test holds).

Afterwards every case is closed (its answers imply it), no event is duplicated, no notice is
posted twice, no owed run is left, and each case the killed sweep was working on got its
ladder exactly once.

A drill, not part of the suite (its file name is not ``test_*``, so pytest collects it only
when named): every flow run is a process of its own under Prefect's runner, and it takes
8–21 minutes for 6 cases at load 8–18. Run it before a release with
``python -m pytest tests/production/drill_stack_faults.py -s`` (``GRIDGOV_DRILL_CASES=N`` for
more cases). Passed on 2026-12-07 (6 cases, 21 min); docs/operations.md has its history.
``benchmarks/stack.py --cases 200`` drives 200 cases through the same stack without faults.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from gridgov import clock
from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.ledger import holds
from gridgov.ledger.models import Case, CaseEvent, Notification
from gridgov.runtime import Runtime
from tests.api_support import World, build_world, webhook
from tests.conftest import PG_URL
from tests.production.harness import (
    Proc,
    base_env,
    gateway,
    gridgov_serve,
    named,
    outstanding,
    pg_database,
    prefect_server,
    wait_for,
)

pytestmark = [pytest.mark.production, pytest.mark.postgres]

# Cases through the whole loop, and the size of the create burst the gateway is killed in
# (GRIDGOV_DRILL_CASES; the issue asks for 200, which takes hours on a loaded 2-core box).
N = int(os.environ.get("GRIDGOV_DRILL_CASES", "6"))
LOOP = [
    "created",
    "dispatched",
    "acknowledged",
    "arrived",
    "handled",
    "review_started",
    "review_passed",
    "closed",
]


def status(rt: Runtime, no: str) -> str:
    return rt.book.get(no).status


def answer(http: httpx.Client, w: World, who: str, path: str, body: object = None) -> int:
    r = http.post(path, json=body, headers=w.auth(who))
    assert r.status_code in (200, 201, 202), r.text
    return r.status_code


def sweep_killed_mid_transaction(
    rt: Runtime, item_code: str, ledger_url: str, log: Path
) -> list[str]:
    """Fresh dispatched cases whose whole ladder is due at ``later``; a sweep at ``later`` in
    its own process takes the ledger's sweep hold (as the ``supervise`` flow does), blocks on
    a row lock the test holds, and is killed there, leaving its hold behind. Returns the cases
    (a finishing sweep must then act on each exactly once)."""
    grid = min((u for u in rt.catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    now = clock.now()
    nos = []
    for k in range(3):
        c = rt.book.open_case(
            {"item_code": item_code, "community": grid.parent, "source": "patrol", "reporter": "p"},
            Actor(Role.PATROLLER, "p"),
            now,
            f"kill-sweep-open-{k}",
        ).case
        rt.book.act(c.case_no, EventKind.DISPATCHED, Actor(Role.DISPATCHER, "d"), now, f"ks-d{k}")
        nos.append(c.case_no)
    later = now + timedelta(days=40)  # due for this sweep only, not for the scheduled ones
    app = "gridgov_c_killed_sweep"
    code = (
        "import sys, time; from datetime import datetime, timedelta;"
        " from gridgov import clock; from gridgov.ledger import holds;"
        " from gridgov.runtime import default_runtime;"
        " from gridgov.ledger.supervision import sweep; rt = default_runtime();"
        " lease = timedelta(seconds=rt.settings.job_lease);"
        " take = lambda: holds.acquire(rt.book.factory, holds.SWEEP, 'killed-sweep',"
        " clock.now(), lease);"
        " [time.sleep(0.2) for _ in iter(take, True)];"
        " sweep(rt.book, datetime.fromisoformat(sys.argv[1]))"
    )
    engine = create_engine(ledger_url)
    try:
        with engine.connect() as holder:
            holder.begin()
            holder.execute(
                text("select id from cases where case_no = :n for update"), {"n": nos[-1]}
            )
            killed = Proc(
                "killed-sweep",
                [sys.executable, "-c", code, later.isoformat()],
                base_env(GRIDGOV_DATABASE_URL=named(ledger_url, app)),
                log,
            ).start()

            def blocked() -> bool:
                assert killed.alive(), killed.tail()
                with engine.connect() as probe:
                    n = probe.scalar(
                        text(
                            "select count(*) from pg_stat_activity where application_name = :a "
                            "and wait_event_type = 'Lock'"
                        ),
                        {"a": app},
                    )
                return bool(n)

            wait_for("the sweep to block mid-transaction", blocked, timeout=120, every=0.2)
            killed.kill_group()
            holder.rollback()
    finally:
        engine.dispose()
    with rt.book.factory() as s:
        ladder = s.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .join(Case)
            .where(Case.case_no.in_(nos), CaseEvent.kind == EventKind.REMINDED.value)
        )
    assert ladder == 0  # the killed transaction left nothing
    assert holds.holding(rt.book.factory, holds.SWEEP)[0] == "killed-sweep"  # and its hold
    from gridgov.ledger.supervision import sweep

    sweep(rt.book, later)
    return nos


def test_stack_survives_kills_and_an_outage(pg_ledger: Runtime, tmp_path: Path) -> None:
    rt = pg_ledger
    w = build_world(rt)
    ledger_url = rt.engine.url.render_as_string(hide_password=False)
    with (
        webhook() as (hook, posts),
        pg_database(PG_URL, prefix="c_prefect") as prefect_db,
        prefect_server(tmp_path, prefect_db) as server,
    ):
        knobs = dict(
            GRIDGOV_WEBHOOK_URL=hook,
            GRIDGOV_SUPERVISE_EVERY="20",
            GRIDGOV_OWED_RUN_GRACE="5",
            GRIDGOV_OWED_RUN_STALE="30",
        )
        workers = [
            gridgov_serve(
                server, ledger_url, tmp_path / f"serve{i}.log", items=[w.item.code], **knobs
            )
            for i in (1, 2)
        ]
        genv = base_env(
            PREFECT_HOME=str(server.home),
            PREFECT_API_URL=server.api_url,
            GRIDGOV_DATABASE_URL=ledger_url,
            GRIDGOV_HOME=str(tmp_path / "gateway"),
            GRIDGOV_LAUNCH_MODE="deployment",
        )
        gw, base = gateway(genv, tmp_path / "gateway.log")
        try:
            # 1. A burst of concurrent creates; the gateway is killed as the first lands.
            bodies = [
                w.new_case(source="patrol", reporter="grid-worker-7", description=f"stack {i}")
                for i in range(N)
            ]

            def create(i: int, url: str) -> httpx.Response | None:
                headers = {**w.auth("patroller"), "Idempotency-Key": f"stack-create-{i}"}
                try:
                    return httpx.post(
                        f"{url}/v1/cases", json=bodies[i], headers=headers, timeout=60
                    )
                except httpx.TransportError:
                    return None

            with ThreadPoolExecutor(N) as pool:
                first = [pool.submit(create, i, base) for i in range(N)]

                def landed() -> bool:
                    with rt.book.factory() as s:
                        return bool(s.scalar(select(func.count()).select_from(Case)))

                wait_for("a create to be recorded", landed, timeout=120, every=0.02)
                gw.kill_group()
            lost = sum(f.result() is None for f in first)
            gw, base = gateway(genv, tmp_path / "gateway2.log")
            retried = [create(i, base) for i in range(N)]  # the clients retry, same keys
            assert all(r is not None and r.status_code in (200, 201, 202) for r in retried)
            nos = sorted({r.json()["case"]["case_no"] for r in retried if r is not None})
            assert len(nos) == N, nos  # one case per key, however the burst ended
            with rt.book.factory() as s:
                assert s.scalar(select(func.count()).select_from(Case)) == N

            # 2. Answers; one worker is killed with its runs right after half of them.
            http = httpx.Client(base_url=base, timeout=60)
            for k, no in enumerate(nos):
                wait_for(f"{no} dispatched", lambda no=no: status(rt, no) == "dispatched", 300)
                answer(http, w, "lead", f"/v1/cases/{no}/acknowledge")
                answer(http, w, "lead", f"/v1/cases/{no}/arrive")
                answer(http, w, "lead", f"/v1/cases/{no}/complete", {"evidence": ["photo://x"]})
                if k == N // 2:
                    workers[0].kill_group()

            # 3. The Prefect server stops while the reviews come in; the steps are recorded.
            for no in nos:
                wait_for(f"{no} under review", lambda no=no: status(rt, no) == "under_review", 300)
            server.stop()
            pending = [answer(http, w, "reviewer", f"/v1/cases/{no}/review-pass") for no in nos]
            assert pending == [202] * N  # recorded, run pending
            server.start()
            http.close()

            def converged() -> bool:
                assert workers[1].alive(), workers[1].tail()
                return all(status(rt, no) == "closed" for no in nos) and outstanding(rt) == (0, 0)

            wait_for(
                "every case closed, every owed run settled, every notice sent",
                converged,
                600 + 30 * N,
            )

            # 4. A sweep killed mid-transaction wrote nothing; the next one acts once, and the
            # scheduled sweeps deliver its notices.
            swept = sweep_killed_mid_transaction(
                rt, w.item.code, ledger_url, tmp_path / "killed.log"
            )
            killed_at = clock.now()  # the dead sweep's hold is still there (checked above)

            # The dead sweep's hold expires within its lease (GRIDGOV_JOB_LEASE, 60 s) and a
            # scheduled sweep completes after it: supervision does not stop for long.
            def swept_again() -> bool:
                last = holds.last_completed(rt.book.factory, holds.SWEEP)
                return last is not None and last > killed_at

            wait_for("a scheduled sweep after the killed one", swept_again, 300)
            wait_for("the ladder's notices sent", converged, 300)
        finally:
            for p in [*workers, gw]:
                p.kill_group()

    for no in nos:
        kinds = [e.kind for e in rt.book.trail(no)]
        assert [k for k in kinds if k in LOOP] == LOOP, (no, kinds)  # nothing twice
        seqs = [e.seq for e in rt.book.trail(no)]
        assert seqs == list(range(1, len(seqs) + 1))
    for no in swept:
        steps = Counter(e.kind for e in rt.book.trail(no))
        assert (steps["reminded"], steps["supervised"], steps["escalated"]) == (1, 1, 1), steps
    with rt.book.factory() as s:
        sent = set(s.scalars(select(Notification.idempotency_key)).all())
        statuses = set(s.scalars(select(Notification.status)).all())
    assert statuses == {"sent"}
    assert set(posts) == sent  # every notice reached the receiver
    # A deliverer killed between its POST and marking the row sent (the worker kill) leaves
    # a lease that expires, and another posts the notice again with the same Idempotency-Key:
    # the receiver drops it. Seen once in 18 notices (2026-12-07, load 10); any other repeat
    # (more than twice, or many) is a claiming bug.
    repeats = {k: n for k, n in posts.items() if n > 1}
    assert max(posts.values()) <= 2 and len(repeats) <= 2, repeats
    print(
        f"stack: {N} cases, {lost} creates cut off by the gateway kill, {len(posts)} notices, "
        f"{len(repeats)} posted again after a killed deliverer"
    )
