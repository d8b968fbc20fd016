"""Gateway on a live uvicorn (SQLite and PostgreSQL): create, read, list, board, keys."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gridgov import clock
from gridgov.api.keystore import revoke_key
from gridgov.domain.enums import Tier
from gridgov.ledger.supervision import sweep
from tests.api_support import World, app, http, live, world

__all__ = ["app", "http", "live", "world"]  # fixtures


def create(http: httpx.Client, w: World, who: str, key: str | None = None, **over: Any) -> str:
    headers = w.auth(who) | ({"Idempotency-Key": key} if key else {})
    r = http.post("/v1/cases", json=w.new_case(**over), headers=headers)
    assert r.status_code == 201, r.text
    case_no: str = r.json()["case"]["case_no"]
    return case_no


def test_create_is_idempotent_per_key_and_names_the_actor(http: httpx.Client, world: World) -> None:
    w = world
    r1 = http.post(
        "/v1/cases", json=w.new_case(), headers=w.auth("citizen") | {"Idempotency-Key": "k1"}
    )
    assert r1.status_code == 201, r1.text
    body = r1.json()
    assert body["replayed"] is False and body["run"] == {
        "mode": "none",
        "flow_run_id": None,
        "state": None,
        "waits": None,
        "pending": True,  # owed: the sweep's reconciler starts it
        "detail": "recorded only (launch mode none)",
    }
    case = body["case"]
    assert case["item_code"] == w.item.code and case["status"] == "reported"
    assert case["community_code"] == w.community and case["grid_code"] == w.grid
    r2 = http.post(
        "/v1/cases", json=w.new_case(), headers=w.auth("citizen") | {"Idempotency-Key": "k1"}
    )
    assert r2.status_code == 200 and r2.json()["replayed"] is True
    assert r2.json()["case"]["case_no"] == case["case_no"]
    # The key in the body works the same way.
    r3 = http.post("/v1/cases", json=w.new_case(idempotency_key="k1"), headers=w.auth("citizen"))
    assert r3.status_code == 200 and r3.json()["case"]["case_no"] == case["case_no"]
    assert w.counts()[0] == 1
    # Keys are per API key: another app choosing "k1" gets its own case.
    r4 = http.post(
        "/v1/cases", json=w.new_case(), headers=w.auth("citizen2") | {"Idempotency-Key": "k1"}
    )
    assert r4.status_code == 201 and r4.json()["case"]["case_no"] != case["case_no"]
    trail = http.get(f"/v1/cases/{case['case_no']}/trail", headers=w.auth("citizen")).json()
    created = trail["events"][0]
    assert created["kind"] == "created" and created["role"] == "citizen"
    assert re.fullmatch(r"test citizen#[0-9a-f]{8}", created["actor"])


def test_key_reuse_for_another_case_and_mismatched_keys_are_refused(
    http: httpx.Client, world: World
) -> None:
    w = world
    create(http, w, "dispatcher", key="same", source="patrol")
    before = w.counts()
    other = http.post(
        "/v1/cases",
        json=w.new_case(community=w.other_community, grid=None, source="patrol"),
        headers=w.auth("dispatcher") | {"Idempotency-Key": "same"},
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    both = http.post(
        "/v1/cases",
        json=w.new_case(idempotency_key="a"),
        headers=w.auth("citizen") | {"Idempotency-Key": "b"},
    )
    assert both.status_code == 422 and both.json()["error"]["field"] == "idempotency_key"
    assert w.counts() == before


def test_list_filters_and_keyset_pages(http: httpx.Client, world: World) -> None:
    w = world
    other_item = next(
        i
        for i in sorted(w.rt.catalog.in_force(clock.now().date()), key=lambda i: i.code)
        if i.tier == Tier.COMMUNITY and "patrol" in i.sources
    )
    mine = [create(http, w, "dispatcher", source="patrol") for _ in range(3)]
    far = create(http, w, "dispatcher", source="patrol", community=w.other_community, grid=None)
    t2 = create(http, w, "dispatcher", source="patrol", item_code=other_item.code)
    auth = w.auth("dispatcher")

    def nos(**params: Any) -> set[str]:
        r = http.get("/v1/cases", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return {c["case_no"] for c in r.json()["items"]}

    assert nos(community=w.community) == {*mine, t2}
    assert nos(community=w.other_community) == {far}
    assert nos(item=other_item.code) == {t2}
    assert nos(tier=2) == {t2}
    assert nos(grid=w.grid) == {*mine, t2}
    assert nos(status="reported", overdue="false") == {*mine, far, t2}
    assert nos(status="closed") == set()
    tomorrow = (clock.now() + timedelta(days=1)).isoformat()
    assert nos(opened_from=tomorrow) == set()
    assert nos(opened_to=tomorrow) == {*mine, far, t2}
    # Pages of two: every case once, newest first.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = http.get("/v1/cases", params=params, headers=auth).json()
        seen += [c["case_no"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted([*mine, far, t2], reverse=True)
    bad = http.get("/v1/cases", params={"status": "lost"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    bad = http.get("/v1/cases", params={"cursor": "xyz"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_each_key_sees_its_own_cases_only(http: httpx.Client, world: World) -> None:
    w = world
    no = create(http, w, "citizen")
    w.dispatch(no)
    allowed = ["lead", "assisting", "community", "dispatcher", "street_dispatcher", "citizen"]
    allowed += ["auditor", "supervisor", "reviewer", "patroller"]
    for who in allowed:
        r = http.get(f"/v1/cases/{no}", headers=w.auth(who))
        assert r.status_code == 200, (who, r.text)
        listed = http.get("/v1/cases", headers=w.auth(who)).json()["items"]
        assert [c["case_no"] for c in listed] == [no], who
    for who in ["other_dept", "other_community", "far_dispatcher", "citizen2"]:
        r = http.get(f"/v1/cases/{no}", headers=w.auth(who))
        assert r.status_code == 403, (who, r.text)
        assert r.json()["error"]["code"] == "not_permitted"
        assert http.get(f"/v1/cases/{no}/trail", headers=w.auth(who)).status_code == 403
        assert http.get("/v1/cases", headers=w.auth(who)).json()["items"] == [], who
    missing = http.get("/v1/cases/C20261123-999999", headers=w.auth("auditor"))
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "case_no"
    malformed = http.get("/v1/cases/not-a-case", headers=w.auth("auditor"))
    assert malformed.status_code == 422 and malformed.json()["error"]["field"] == "case_no"


def test_board_shows_where_each_case_is_on_the_ladder(http: httpx.Client, world: World) -> None:
    w = world
    late = create(http, w, "citizen")
    w.dispatch(late)
    calm = create(http, w, "citizen")
    w.dispatch(calm)
    due = w.rt.book.get(late).clock_due
    assert due is not None
    # The other case is acknowledged first: its clock becomes the (longer) arrival limit.
    ack = http.post(f"/v1/cases/{calm}/acknowledge", headers=w.auth("lead"))
    assert ack.status_code == 200, ack.text
    sweep(w.rt.book, due + timedelta(minutes=1))
    board = http.get("/v1/board", headers=w.auth("supervisor"))
    assert board.status_code == 200, board.text
    rows = {r["case_no"]: r for r in board.json()["rows"]}
    assert late in rows
    row = rows[late]
    assert row["supervision_level"] == "supervised" and row["overdue"] is True
    assert row["clock_kind"] == "acknowledge" and row["assignee"] == w.lead
    assert row["next_sweep_at"] is not None
    assert board.json()["counts"].get("supervised", 0) >= 1
    assert board.json()["by_assignee"][w.lead] >= 1
    only = http.get("/v1/board", params={"level": "escalated"}, headers=w.auth("supervisor"))
    assert late not in {r["case_no"] for r in only.json()["rows"]}
    assert http.get("/v1/board", headers=w.auth("other_dept")).json()["rows"] == []
    mine = http.get("/v1/board", headers=w.auth("lead")).json()["rows"]
    assert late in {r["case_no"] for r in mine}


def test_keys_missing_garbage_revoked_and_header_forms(http: httpx.Client, world: World) -> None:
    w = world
    none = http.get("/v1/cases")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    assert none.json()["error"]["code"] == "unauthorized"
    assert http.get("/v1/cases", headers={"Authorization": "Bearer nope"}).status_code == 401
    forged = w.keys["auditor"][:-4] + "AAAA"
    assert http.get("/v1/cases", headers={"X-API-Key": forged}).status_code == 401
    me = http.get("/v1/whoami", headers={"X-API-Key": w.keys["lead"]})
    assert me.status_code == 200
    assert me.json()["role"] == "department" and me.json()["department"] == w.lead
    prefix = me.json()["prefix"]
    revoke_key(w.rt.book.factory, prefix)
    after = http.get("/v1/whoami", headers={"X-API-Key": w.keys["lead"]})
    assert after.status_code == 401  # the test app caches keys for 0 s


def test_openapi_documents_routes_auth_and_error_shape(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/cases",
        "/v1/cases/{case_no}",
        "/v1/cases/{case_no}/trail",
        "/v1/cases/{case_no}/acknowledge",
        "/v1/cases/{case_no}/complete",
        "/v1/board",
        "/open311/v2/services.{fmt}",
        "/open311/v2/requests.{fmt}",
        "/open311/v2/tokens/{token}.{fmt}",
    ):
        assert path in paths, path
    schemes = spec["components"]["securitySchemes"]
    assert {"ApiKeyBearer", "ApiKeyHeader"} <= set(schemes)
    create_op = paths["/v1/cases"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create_op["parameters"]}
    form = paths["/open311/v2/requests.{fmt}"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in form
    assert http.get("/docs").status_code == 200


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1/cases/C20261123-000001/fly"])
def test_unknown_routes_use_the_error_shape(http: httpx.Client, world: World, path: str) -> None:
    r = http.post(path, headers=world.auth("lead"))
    assert r.status_code in (404, 405)
    assert set(r.json()["error"]) == {"code", "field", "message"}
