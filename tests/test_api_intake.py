"""Intake through the live gateway: machine-event batches (JSON and JSON Lines), citizen
requests in free text and the dispatcher's queue — with who may do what, and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from gridgov.api.keystore import create_key
from gridgov.domain.enums import Role
from gridgov.intake.places import Place, qr_code
from gridgov.ledger.models import Case, CaseEvent, Notification
from tests.api_support import World, app, http, live, world
from tests.test_intake_bulk import row as bulk_row

__all__ = ["app", "http", "live", "world"]  # fixtures

# The gateway takes client times within 7 days behind and 5 minutes ahead of its clock.
RECEIVED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def row(rt: Any, eid: str, minutes: float = 0, **over: Any) -> dict[str, Any]:
    at = (RECEIVED + timedelta(minutes=minutes)).isoformat()
    return bulk_row(rt, eid) | {"at": at} | over


def machine_key(w: World, scope: str | None = None) -> dict[str, str]:
    token, _ = create_key(w.rt.book.factory, w.rt.catalog, Role.MACHINE, "camera hub", scope=scope)
    return {"Authorization": f"Bearer {token}"}


def created_by(w: World, case_no: str) -> tuple[str, str]:
    with w.rt.book.factory() as s:
        actor, role = s.execute(
            select(CaseEvent.actor, CaseEvent.role)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(Case.case_no == case_no, CaseEvent.kind == "created")
        ).one()
    return actor, role


def test_a_batch_opens_cases_merges_repeats_and_names_bad_rows(
    http: httpx.Client, world: World
) -> None:
    rt, key = world.rt, machine_key(world)
    batch = [
        row(rt, "e1"),
        row(rt, "e2", minutes=5),  # same camera, place and type within 30 min: a repeat
        row(rt, "e3", type="ufo"),
        row(rt, "e4", minutes=1, type="street_vending", device="cam-9", lat=22.76),
    ]
    r = http.post("/v1/intake/events", json=batch, headers=key)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["rows"], out["opened"], out["repeats"], out["already"]) == (4, 2, 1, 0)
    assert out["refused"] == [{"line": 3, "field": "type", "message": "unknown event type 'ufo'"}]
    assert len(out["case_nos"]) == 2
    actor, role = created_by(world, out["case_nos"][0])
    assert actor.startswith("camera hub#") and role == "machine"  # who posted it
    with rt.book.factory() as s:
        repeat = s.scalar(select(Case.repeat_count).where(Case.case_no == out["case_nos"][0]))
    assert repeat == 2  # events seen by the case: the first and its repeat
    before = world.counts()
    again = http.post("/v1/intake/events", json={"events": batch}, headers=key).json()
    assert (again["opened"], again["repeats"], again["already"]) == (0, 0, 3)
    assert world.counts() == before  # a resent batch writes nothing


def test_json_lines_batch_reports_lines_that_are_not_json(http: httpx.Client, world: World) -> None:
    lines = [
        json.dumps(row(world.rt, "n1", description="路灯\u2028不亮"), ensure_ascii=False),
        "",  # blank lines are skipped but still counted
        "{oops",
        json.dumps(row(world.rt, "n2", type="ufo")),
        json.dumps(row(world.rt, "n3")),
    ]
    headers = machine_key(world) | {"Content-Type": "application/x-ndjson"}
    out = http.post("/v1/intake/events", content="\n".join(lines).encode(), headers=headers)
    body = out.json()
    assert body["rows"] == 4 and body["opened"] == 1 and body["repeats"] == 1
    refused = [(e["line"], e["field"], e["message"][:8]) for e in body["refused"]]
    assert refused == [(3, "row", "not JSON"), (4, "type", "unknown ")]


def test_a_batch_with_nothing_good_is_refused_and_stores_nothing(
    http: httpx.Client, world: World
) -> None:
    key, before = machine_key(world), world.counts()
    r = http.post("/v1/intake/events", json=[row(world.rt, "x", community="NOWHERE")], headers=key)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "events[1].community"
    for body, field in (([], "events"), ({"rows": 1}, "body")):
        bad = http.post("/v1/intake/events", json=body, headers=key)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field
    xml = http.post(
        "/v1/intake/events", content=b"<e/>", headers=key | {"Content-Type": "text/xml"}
    )
    assert xml.status_code == 415 and xml.json()["error"]["field"] == "content-type"
    many = [row(world.rt, "b", description="x" * 1000)] * 5000
    big = http.post("/v1/intake/events", json=many, headers=key)
    assert big.status_code == 413
    too_many = http.post("/v1/intake/events", json=[{"a": 1}] * 5001, headers=key)
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "events"
    for hostile in (b"[" * 100_000 + b"]" * 100_000, b"[" + b"9" * 5000 + b"]"):
        bad = http.post("/v1/intake/events", content=hostile, headers=key)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "body", bad.text
    now = datetime.now(UTC)
    for when in (now + timedelta(hours=1), now - timedelta(days=8)):
        stale = http.post(
            "/v1/intake/events", json=[row(world.rt, "t", at=when.isoformat())], headers=key
        )
        assert stale.status_code == 422 and stale.json()["error"]["field"] == "events[1].at"
    long_id = http.post("/v1/intake/events", json=[row(world.rt, "x" * 101)], headers=key)
    assert long_id.json()["error"]["field"] == "events[1].event_id"
    assert world.counts() == before


def test_who_may_post_events_and_what_a_machine_key_may_see(
    http: httpx.Client, world: World
) -> None:
    rt = world.rt
    citizen = http.post("/v1/intake/events", json=[row(rt, "c1")], headers=world.auth("citizen"))
    assert citizen.status_code == 403 and citizen.json()["error"]["field"] == "role"
    assert http.post("/v1/intake/events", json=[row(rt, "c1")]).status_code == 401
    far = machine_key(world, scope=world.other_community)
    out = http.post("/v1/intake/events", json=[row(rt, "c1")], headers=far)
    assert out.status_code == 422 and out.json()["error"]["field"] == "events[1].community"
    key = machine_key(world)
    opened = http.post("/v1/intake/events", json=[row(rt, "c1")], headers=key).json()
    no = opened["case_nos"][0]
    assert http.get(f"/v1/cases/{no}", headers=key).status_code == 403
    assert http.get("/v1/cases", headers=key).json()["items"] == []
    one_case = http.post("/v1/cases", json=world.new_case(source="ai_camera"), headers=key)
    assert one_case.status_code == 403 and one_case.json()["error"]["field"] == "role"
    assert http.post(f"/v1/cases/{no}/acknowledge", headers=key).status_code == 403


def request(w: World, rid: str, text: str, **over: Any) -> dict[str, Any]:
    base = {
        "channel": "app",
        "request_id": rid,
        "reporter": "citizen-13800000000",
        "text": text,
        "received_at": RECEIVED.isoformat(),
        "qr": qr_code(Place(w.community, w.grid, "B001")),
    }
    return base | over


def test_citizen_requests_open_or_queue_and_the_dispatcher_decides(
    http: httpx.Client, world: World
) -> None:
    citizen = world.auth("citizen")
    sure = http.post("/v1/intake/requests", json=request(world, "r1", "路灯坏了"), headers=citizen)
    assert sure.status_code == 200, sure.text
    s = sure.json()
    assert s["status"] == "opened" and s["item_code"] == "BJ-GY-008" and s["case_no"]
    assert created_by(world, s["case_no"])[1] == "citizen"
    mine = http.get(f"/v1/cases/{s['case_no']}", headers=citizen)
    assert mine.status_code == 200  # the app reads the case it reported
    before = world.counts()
    replay = http.post(
        "/v1/intake/requests", json=request(world, "r1", "路灯坏了"), headers=citizen
    )
    assert replay.json()["case_no"] == s["case_no"] and world.counts() == before
    # Another app may use the same request id: ids are per key.
    other = http.post(
        "/v1/intake/requests", json=request(world, "r1", "井盖坏了"), headers=world.auth("citizen2")
    ).json()
    assert other["status"] == "queued" and other["case_no"] is None

    assert http.get("/v1/intake/requests", headers=citizen).status_code == 403
    far = http.get("/v1/intake/requests", headers=world.auth("far_dispatcher")).json()
    assert far == []
    queue = http.get("/v1/intake/requests", headers=world.auth("dispatcher")).json()
    assert [q["id"] for q in queue] == [other["id"]]
    assert {c["code"] for c in queue[0]["candidates"]} >= {"BJ-GY-001", "BJ-GY-003"}

    path = f"/v1/intake/requests/{other['id']}"
    pick = {"item_code": "BJ-GY-003"}
    refused = http.post(f"{path}/assign", json=pick, headers=world.auth("far_dispatcher"))
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "request"
    done = http.post(f"{path}/assign", json=pick, headers=world.auth("dispatcher"))
    assert done.status_code == 200, done.text
    d = done.json()
    assert d["status"] == "assigned" and d["case_no"]
    case = world.rt.book.get(d["case_no"])
    assert case.item_code == "BJ-GY-003" and case.opened_at == RECEIVED
    assert created_by(world, d["case_no"])[1] == "dispatcher"
    with world.rt.book.factory() as db:
        receipts = db.scalars(
            select(Notification.status).where(
                Notification.case_id == case.id, Notification.kind == "received"
            )
        ).all()
    assert sorted(receipts) == ["pending", "skipped"]  # one SMS, the one sent at queueing
    late = http.post(f"{path}/reject", json={"reason": "x"}, headers=world.auth("dispatcher"))
    assert late.status_code == 409  # decided already

    third = http.post(
        "/v1/intake/requests", json=request(world, "r3", "请问这个归谁管？"), headers=citizen
    ).json()
    no_reason = http.post(
        f"/v1/intake/requests/{third['id']}/reject", json={}, headers=world.auth("dispatcher")
    )
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    rejected = http.post(
        f"/v1/intake/requests/{third['id']}/reject",
        json={"reason": "not a governance matter"},
        headers=world.auth("dispatcher"),
    ).json()
    assert rejected["status"] == "rejected" and rejected["case_no"] is None
    missing = http.post(
        "/v1/intake/requests/99999/reject", json={"reason": "x"}, headers=world.auth("dispatcher")
    )
    assert missing.status_code == 404


def test_bad_citizen_requests_name_the_field(http: httpx.Client, world: World) -> None:
    citizen, before = world.auth("citizen"), world.counts()
    cases = (
        (request(world, "b1", "路灯坏了", channel="fax"), "channel"),
        (request(world, "b2", "路灯坏了", qr=None), "qr"),
        (request(world, "x" * 101, "路灯坏了"), "request_id"),
        (request(world, "b4", "路灯坏了", received_at="yesterday"), "received_at"),
        (request(world, "b5", "路灯坏了", surprise=1), "surprise"),
    )
    for body, field in cases:
        r = http.post("/v1/intake/requests", json=body, headers=citizen)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"]["field"] == field
    machine = http.post(
        "/v1/intake/requests", json=request(world, "b6", "路灯坏了"), headers=machine_key(world)
    )
    assert machine.status_code == 403
    assert world.counts() == before


def test_event_ids_are_per_key(http: httpx.Client, world: World) -> None:
    """Two platforms numbering their events alike: neither's events shadow the other's."""
    a = http.post("/v1/intake/events", json=[row(world.rt, "1")], headers=machine_key(world))
    other = row(world.rt, "1", device="cam-77", lat=22.70, lon=113.90)
    b = http.post("/v1/intake/events", json=[other], headers=machine_key(world))
    assert a.json()["opened"] == 1 and b.json()["opened"] == 1 and b.json()["already"] == 0


def test_the_app_sees_the_case_its_queued_request_became(http: httpx.Client, world: World) -> None:
    citizen = world.auth("citizen")
    queued = http.post(
        "/v1/intake/requests", json=request(world, "v1", "井盖坏了"), headers=citizen
    ).json()
    path = f"/v1/intake/requests/{queued['id']}/assign"
    long_code = http.post(path, json={"item_code": "A" * 40}, headers=world.auth("dispatcher"))
    assert long_code.status_code == 422 and long_code.json()["error"]["field"] == "item_code"
    pick = {"item_code": "BJ-GY-003"}
    done = http.post(path, json=pick, headers=world.auth("dispatcher")).json()
    no = done["case_no"]
    assert http.get(f"/v1/cases/{no}", headers=citizen).status_code == 200
    assert [c["case_no"] for c in http.get("/v1/cases", headers=citizen).json()["items"]] == [no]
    assert http.get(f"/v1/cases/{no}", headers=world.auth("citizen2")).status_code == 403
    before = world.counts()
    again = http.post(path, json=pick, headers=world.auth("dispatcher"))
    assert again.status_code == 200 and again.json()["case_no"] == no  # a safe repeat
    assert world.counts() == before
    other = http.post(path, json={"item_code": "BJ-GY-001"}, headers=world.auth("dispatcher"))
    assert other.status_code == 409
