"""/healthz and /readyz: readiness fails when a sweep is missing or work waits too long."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from gridgov import clock
from gridgov.api.app import create_app
from gridgov.ledger import holds
from gridgov.ledger.db import transaction
from gridgov.ledger.models import OwedRun
from gridgov.runtime import Runtime
from tests.api_support import World, build_world, serve


def checks(http: httpx.Client) -> tuple[int, dict[str, bool]]:
    r = http.get("/readyz")
    return r.status_code, {c["name"]: c["ok"] for c in r.json()["checks"]}


def test_ready_only_with_a_recent_sweep_and_nothing_stuck(runtime: Runtime) -> None:
    world = build_world(runtime)
    with (
        serve(create_app(runtime, "none", key_ttl=0)) as url,
        httpx.Client(base_url=url, timeout=120) as http,
    ):
        ready_only_when_swept(http, world)


def ready_only_when_swept(http: httpx.Client, world: World) -> None:
    f = world.rt.book.factory
    assert http.get("/healthz").json()["status"] == "ok"
    status, ok = checks(http)
    assert status == 503 and ok["ledger"] and not ok["last_sweep"]  # no sweep ever ran
    now = clock.now()
    assert holds.acquire(f, holds.SWEEP, "me", now, timedelta(minutes=5))
    assert not holds.acquire(f, holds.SWEEP, "other", now, timedelta(minutes=5))  # exclusive
    holds.release(f, holds.SWEEP, "me", now)
    status, ok = checks(http)
    assert status == 200 and all(ok.values()), ok
    # A case recorded (mode none owes its report run) and its run never started for an hour.
    made = http.post("/v1/cases", json=world.new_case(), headers=world.auth("citizen"))
    assert made.status_code == 201
    with transaction(f) as s:
        s.execute(update(OwedRun).values(owed_since=now - timedelta(hours=1)))
    status, ok = checks(http)
    assert status == 503 and not ok["oldest_owed_run"] and ok["last_sweep"]
