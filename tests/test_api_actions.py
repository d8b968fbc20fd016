"""Department, dispatcher, reviewer and citizen actions through the live gateway."""

from __future__ import annotations

from typing import Any

import httpx

from gridgov import clock
from gridgov.domain.enums import Source, Tier
from gridgov.domain.lifecycle import SYSTEM, EventKind
from tests.api_support import World, app, http, live, world

__all__ = ["app", "http", "live", "world"]  # fixtures


def report(http: httpx.Client, w: World, who: str = "citizen", **over: Any) -> str:
    r = http.post("/v1/cases", json=w.new_case(**over), headers=w.auth(who))
    assert r.status_code == 201, r.text
    no: str = r.json()["case"]["case_no"]
    return no


def do(
    http: httpx.Client,
    w: World,
    who: str,
    no: str,
    action: str,
    body: Any = None,
    key: str | None = None,
) -> httpx.Response:
    headers = w.auth(who) | ({"Idempotency-Key": key} if key else {})
    return http.post(f"/v1/cases/{no}/{action}", json=body, headers=headers)


def ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def system(w: World, no: str, kind: EventKind) -> None:
    """An automatic step the flow takes (record-only mode takes none)."""
    seq = len(w.rt.book.trail(no))
    w.rt.book.act(no, kind, SYSTEM, clock.now(), f"{no}#{seq}>{kind.value}")


def whoami(http: httpx.Client, w: World, who: str) -> str:
    actor: str = http.get("/v1/whoami", headers=w.auth(who)).json()["actor"]
    return actor


def test_the_whole_loop_each_step_by_its_key(http: httpx.Client, world: World) -> None:
    w = world
    no = report(http, w)
    w.dispatch(no)
    assert ok(do(http, w, "lead", no, "acknowledge"))["case"]["status"] == "acknowledged"
    assert ok(do(http, w, "lead", no, "arrive", {"note": "on site"}))["case"]["status"] == (
        "in_progress"
    )
    ext = {"amount": 1, "unit": "working_days", "reason": "parts on order"}
    assert ok(do(http, w, "lead", no, "extension-request", ext))["case"]["extension_pending"]
    due_before = w.rt.book.get(no).handle_due
    granted = ok(do(http, w, "dispatcher", no, "extension-grant"))["case"]
    assert granted["extension_count"] == 1 and not granted["extension_pending"]
    after = w.rt.book.get(no).handle_due
    assert due_before is not None and after is not None and after > due_before
    ok(do(http, w, "lead", no, "extension-request", ext))
    refused = ok(do(http, w, "supervisor", no, "extension-refuse", {"reason": "no"}))
    assert refused["case"]["extension_count"] == 1 and not refused["case"]["extension_pending"]
    ok(do(http, w, "assisting", no, "assist", {"note": "cleared the drain"}))
    done = ok(do(http, w, "lead", no, "complete", {"evidence": ["photo://after.jpg"]}))
    assert done["case"]["status"] == "handled"
    system(w, no, EventKind.REVIEW_STARTED)
    failed = ok(do(http, w, "reviewer", no, "review-fail", {"reason": "still dirty"}))
    assert failed["case"]["status"] == "rework" and failed["case"]["rework_count"] == 1
    ok(do(http, w, "lead", no, "complete", {"evidence": ["photo://again.jpg"]}))
    system(w, no, EventKind.REVIEW_STARTED)
    assert ok(do(http, w, "reviewer", no, "review-pass"))["case"]["status"] == "evaluating"
    rated = ok(do(http, w, "citizen", no, "rate", {"rating": "satisfied", "comment": "快"}))
    assert rated["case"]["rating"] == "satisfied"
    assert rated["event"]["payload"] == {"rating": "satisfied", "comment": "快"}
    trail = ok(http.get(f"/v1/cases/{no}/trail", headers=w.auth("auditor")))["events"]
    by_kind = [(e["kind"], e["actor"], e["role"], e["department"]) for e in trail]
    lead, assisting = whoami(http, w, "lead"), whoami(http, w, "assisting")
    assert ("acknowledged", lead, "department", w.lead) in by_kind
    assert ("assisted", assisting, "department", w.assisting) in by_kind
    assert ("extension_granted", whoami(http, w, "dispatcher"), "dispatcher", None) in by_kind
    assert ("review_failed", whoami(http, w, "reviewer"), "reviewer", None) in by_kind
    assert ("rated", whoami(http, w, "citizen"), "citizen", None) in by_kind
    assert [e["seq"] for e in trail] == list(range(1, len(trail) + 1))


def test_return_reroute_and_the_new_department(http: httpx.Client, world: World) -> None:
    w = world
    no = report(http, w)
    w.dispatch(no)
    returned = ok(do(http, w, "lead", no, "return", {"reason": "not ours: private land"}))
    assert returned["case"]["status"] == "returned" and returned["case"]["return_count"] == 1
    body = {"department": w.other_dept, "reason": "private land is theirs"}
    rerouted = ok(do(http, w, "dispatcher", no, "reroute", body))
    assert rerouted["case"]["assignee"] == w.other_dept
    assert rerouted["event"]["payload"]["from_department"] == w.lead
    # The first department no longer sees it; the new one acknowledges.
    assert do(http, w, "lead", no, "acknowledge").status_code == 403
    assert ok(do(http, w, "other_dept", no, "acknowledge"))["case"]["status"] == "acknowledged"


def test_refused_actions_write_nothing(http: httpx.Client, world: World) -> None:
    w = world
    no = report(http, w)
    w.dispatch(no)
    before = w.counts()
    cases: list[tuple[str, str, Any, int, str, str | None]] = [
        ("lead", "arrive", None, 409, "invalid_transition", "status"),
        ("lead", "review-pass", None, 409, "invalid_transition", "status"),
        ("citizen", "cancel", {"reason": "x"}, 403, "not_permitted", "actor.role"),
        ("reviewer", "acknowledge", None, 403, "not_permitted", "actor.role"),
        ("other_dept", "acknowledge", None, 403, "not_permitted", "case_no"),
        ("other_community", "acknowledge", None, 403, "not_permitted", "case_no"),
        ("community", "acknowledge", None, 403, "not_permitted", "actor.community"),
        ("citizen2", "rate", {"rating": "satisfied"}, 403, "not_permitted", "case_no"),
        ("auditor", "cancel", {"reason": "x"}, 403, "not_permitted", "actor.role"),
        ("lead", "return", {}, 422, "invalid_input", "reason"),
        ("lead", "return", {"reason": "  "}, 422, "invalid_input", "reason"),
        (
            "lead",
            "extension-request",
            {"amount": 1, "unit": "fortnights", "reason": "x"},
            422,
            "invalid_input",
            "unit",
        ),
        (
            "lead",
            "extension-request",
            {"amount": -1, "unit": "days", "reason": "x"},
            422,
            "invalid_input",
            "amount",
        ),
        ("lead", "complete", {"evidence": []}, 422, "invalid_input", "evidence"),
        ("lead", "acknowledge", {"surprise": 1}, 422, "invalid_input", "surprise"),
        ("dispatcher", "extension-grant", {"amount": 2}, 422, "invalid_input", "body"),
        ("dispatcher", "extension-grant", None, 409, "invalid_transition", "status"),
        ("citizen", "rate", {"rating": "meh"}, 422, "invalid_input", "rating"),
    ]
    for who, action, body, status, code, field in cases:
        r = do(http, w, who, no, action, body)
        assert r.status_code == status, (who, action, r.text)
        err = r.json()["error"]
        assert (err["code"], err["field"]) == (code, field), (who, action, err)
        assert err["message"]
    assert w.counts() == before
    assert w.rt.book.get(no).status == "dispatched"


def test_replayed_action_and_key_reused_for_another(http: httpx.Client, world: World) -> None:
    w = world
    no = report(http, w)
    w.dispatch(no)
    first = ok(do(http, w, "lead", no, "acknowledge", key="ack-1"))
    again = ok(do(http, w, "lead", no, "acknowledge", key="ack-1"))
    assert not first["replayed"] and again["replayed"]
    assert again["event"]["seq"] == first["event"]["seq"]
    before = w.counts()
    clash = do(http, w, "lead", no, "arrive", key="ack-1")
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "idempotency_conflict"
    assert w.counts() == before
    assert [e.kind for e in w.rt.book.trail(no)].count("acknowledged") == 1


def test_community_and_patroller_paths(http: httpx.Client, world: World) -> None:
    w = world
    day = clock.now().date()
    t2 = next(
        i
        for i in sorted(w.rt.catalog.in_force(day), key=lambda i: i.code)
        if i.tier == Tier.COMMUNITY and Source.PATROL in i.sources
    )
    no = report(http, w, "community", item_code=t2.code, source="patrol")
    w.dispatch(no)  # tier 2: to the community's own team
    assert w.rt.book.get(no).assignee == "COMMUNITY"
    assert ok(do(http, w, "community", no, "acknowledge"))["event"]["community"] == w.community
    assert do(http, w, "lead", no, "arrive").status_code == 403
    # A community key reports in its own community only.
    elsewhere = http.post(
        "/v1/cases",
        json=w.new_case(item_code=t2.code, source="patrol", community=w.other_community, grid=None),
        headers=w.auth("community"),
    )
    assert elsewhere.status_code == 403 and elsewhere.json()["error"]["field"] == "community"
    # A patroller reports a field fix with its evidence in one request.
    t1 = next(
        i
        for i in sorted(w.rt.catalog.in_force(day), key=lambda i: i.code)
        if i.tier == Tier.FIELD_FIX and Source.PATROL in i.sources
    )
    fixed = http.post(
        "/v1/cases",
        json=w.new_case(item_code=t1.code, source="patrol", fix={"evidence": ["photo://ok"]}),
        headers=w.auth("patroller"),
    )
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["case"]["status"] == "handled"
    as_citizen = http.post(
        "/v1/cases",
        json=w.new_case(source="patrol"),
        headers=w.auth("citizen"),
    )
    assert as_citizen.status_code == 403 and as_citizen.json()["error"]["field"] == "source"
    not_patroller = http.post(
        "/v1/cases",
        json=w.new_case(item_code=t1.code, source="patrol", fix={"evidence": ["p"]}),
        headers=w.auth("dispatcher"),
    )
    assert not_patroller.status_code == 403 and not_patroller.json()["error"]["field"] == "fix"
