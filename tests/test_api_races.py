"""Concurrent requests at the gateway (issue 14), SQLite and PostgreSQL, in-process ASGI with
real threads: one idempotency key gives one answer whatever the interleaving; different
answers racing get 409, never a time error; one citizen request id makes one case."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from gridgov.intake.places import Place, qr_code
from gridgov.ledger.models import Case, CaseEvent
from tests.api_support import World, app, world

__all__ = ["app", "world"]  # fixtures

N = 20


async def burst(app: FastAPI, calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=60) as c:
        return list(await asyncio.gather(*(c.request(m, u, **kw) for m, u, kw in calls)))


def events(w: World, case_no: str, kind: str) -> int:
    with w.rt.book.factory() as s:
        case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
        q = select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
        return s.scalar(q) or 0


def opened(app: FastAPI, w: World) -> str:
    made = asyncio.run(
        burst(app, [("POST", "/v1/cases", {"json": w.new_case(), "headers": w.auth("dispatcher")})])
    )
    assert made[0].status_code == 201, made[0].text
    no: str = made[0].json()["case"]["case_no"]
    w.dispatch(no)
    return no


def test_one_key_one_answer_under_concurrency(app: FastAPI, world: World) -> None:
    w = world
    no = opened(app, w)
    headers = w.auth("lead") | {"Idempotency-Key": "ack-1"}
    answers = asyncio.run(
        burst(app, [("POST", f"/v1/cases/{no}/acknowledge", {"headers": headers})] * N)
    )
    assert Counter(r.status_code for r in answers) == {200: N}, [r.text for r in answers]
    assert {r.json()["event"]["seq"] for r in answers} == {answers[0].json()["event"]["seq"]}
    assert sum(not r.json()["replayed"] for r in answers) == 1
    assert events(w, no, "acknowledged") == 1


def test_different_answers_racing_get_409_not_a_time_error(app: FastAPI, world: World) -> None:
    w = world
    no = opened(app, w)
    calls = [
        (
            "POST",
            f"/v1/cases/{no}/acknowledge",
            {"headers": w.auth("lead") | {"Idempotency-Key": f"k{n}"}},
        )
        for n in range(N)
    ]
    answers = asyncio.run(burst(app, calls))
    codes = Counter(r.status_code for r in answers)
    assert codes == {200: 1, 409: N - 1}, [r.text for r in answers]
    conflicts = [r.json()["error"]["code"] for r in answers if r.status_code == 409]
    assert set(conflicts) == {"invalid_transition"}
    assert events(w, no, "acknowledged") == 1


def test_one_create_key_makes_one_case(app: FastAPI, world: World) -> None:
    w = world
    headers = w.auth("citizen") | {"Idempotency-Key": "report-1"}
    calls = [("POST", "/v1/cases", {"json": w.new_case(), "headers": headers})] * N
    answers = asyncio.run(burst(app, calls))
    assert Counter(r.status_code for r in answers) == {201: 1, 200: N - 1}, [
        r.text for r in answers
    ]
    assert len({r.json()["case"]["case_no"] for r in answers}) == 1


def test_one_citizen_request_id_makes_one_case(app: FastAPI, world: World) -> None:
    w = world
    body = {
        "channel": "app",
        "request_id": "same-1",
        "reporter": "citizen-13800000000",
        "text": "路灯坏了",
        "received_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "qr": qr_code(Place(w.community, w.grid, "B001")),
    }
    before = w.counts()
    calls = [("POST", "/v1/intake/requests", {"json": body, "headers": w.auth("citizen")})] * N
    answers = asyncio.run(burst(app, calls))
    assert Counter(r.status_code for r in answers) == {200: N}, [r.text for r in answers]
    outcomes = {(r.json()["id"], r.json()["status"], r.json()["case_no"]) for r in answers}
    assert len(outcomes) == 1, outcomes
    assert w.counts()[0] == before[0] + 1  # one case
    assert w.counts()[3] == before[3] + 1  # one request row


def test_source_ids_belong_to_the_key_that_writes_them(app: FastAPI, world: World) -> None:
    """App B cannot take the source id A's citizen request will use."""
    w = world
    a_prefix = w.keys["citizen"].split("_")[1]
    squat = w.new_case(source_system="citizen:app", source_id=f"{a_prefix}:same-2")
    taken = asyncio.run(
        burst(app, [("POST", "/v1/cases", {"json": squat, "headers": w.auth("citizen2")})])
    )
    assert taken[0].status_code == 201, taken[0].text
    body = {
        "channel": "app",
        "request_id": "same-2",
        "reporter": "citizen-13800000000",
        "text": "路灯坏了",
        "received_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "qr": qr_code(Place(w.community, w.grid, "B001")),
    }
    mine = asyncio.run(
        burst(app, [("POST", "/v1/intake/requests", {"json": body, "headers": w.auth("citizen")})])
    )
    assert mine[0].status_code == 200, mine[0].text
    assert mine[0].json()["status"] == "opened"
    assert mine[0].json()["case_no"] != taken[0].json()["case"]["case_no"]


def test_a_replayed_create_shows_only_what_the_key_may_see_now(app: FastAPI, world: World) -> None:
    """A department reports a case that goes to another department: its repeat of the POST
    must not show what GET refuses (status, assignee, deadlines)."""
    w = world
    headers = w.auth("other_dept") | {"Idempotency-Key": "seen-1"}
    body = w.new_case(source="hotline", reporter="城管热线")
    first = asyncio.run(burst(app, [("POST", "/v1/cases", {"json": body, "headers": headers})]))
    assert first[0].status_code == 201, first[0].text
    no = first[0].json()["case"]["case_no"]
    w.dispatch(no)  # to the item's lead department
    calls = [
        ("GET", f"/v1/cases/{no}", {"headers": headers}),
        ("POST", "/v1/cases", {"json": body, "headers": headers}),
    ]
    seen, again = asyncio.run(burst(app, calls))
    assert seen.status_code == 403
    assert again.status_code == 403, again.text
    assert again.json()["error"]["field"] == "case_no"
    assert "assignee" not in again.text
