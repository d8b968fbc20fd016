"""The gateway clients: retries reuse the idempotency key (respx), typed errors, and the real
thing against a live server where a response is lost on the way back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from gridgov.client import (
    AsyncGatewayClient,
    AuthenticationError,
    GatewayClient,
    GatewayUnavailable,
    RetryPolicy,
    ServerError,
)
from gridgov.domain.errors import InvalidInput, InvalidTransition, NotFound, NotPermitted
from tests.api_support import World, app, http, live, world

__all__ = ["app", "http", "live", "world"]  # fixtures

BASE = "http://gateway.test"
FAST = RetryPolicy(retries=3, backoff=0.0)
CASE: dict[str, Any] = {
    "case_no": "C20261123-000001",
    "item_code": "SJ-SR-001",
    "item_version": 1,
    "item_name": "暴露垃圾",
    "tier": 3,
    "category": "city_appearance",
    "status": "reported",
    "source": "citizen",
    "reporter": "x",
    "description": "",
    "street_code": "GM-FH",
    "community_code": "GM-FH-A",
    "grid_code": None,
    "building": None,
    "lat": None,
    "lon": None,
    "media": [],
    "lead_department": "CG",
    "assignee": "COMMUNITY",
    "assisting": [],
    "opened_at": "2026-11-23T01:00:00Z",
    "acknowledge_due": None,
    "arrive_due": None,
    "handle_due": None,
    "review_due": None,
    "handled_at": None,
    "closed_at": None,
    "clock_kind": None,
    "clock_due": None,
    "next_sweep_at": None,
    "supervision_level": None,
    "overdue": False,
    "rework_count": 0,
    "return_count": 0,
    "extension_count": 0,
    "extension_pending": False,
    "rating": None,
}
CREATED = {"case": CASE, "replayed": False, "run": {"mode": "none"}}
NEW = {"item_code": "SJ-SR-001", "community": "GM-FH-A", "source": "citizen", "reporter": "x"}


def error(status: int, code: str, field: str | None = None, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "field": field, "message": f"{code} here"}}
    return httpx.Response(status, json=body, headers=headers)


def keys_sent(route: respx.Route) -> set[str]:
    return {call.request.headers["Idempotency-Key"] for call in route.calls}


@respx.mock(base_url=BASE, assert_all_called=True)
def test_sync_create_retries_with_one_key(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("/v1/cases").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            error(503, "launch_failed", **{"Retry-After": "0"}),
            httpx.Response(201, json=CREATED),
        ]
    )
    with GatewayClient(BASE, "gg_key", retry=FAST) as client:
        out = client.create_case(NEW)
    assert out.case.case_no == "C20261123-000001" and out.replayed is False
    assert route.call_count == 3
    assert len(keys_sent(route)) == 1
    assert route.calls[0].request.headers["Authorization"] == "Bearer gg_key"


@respx.mock(base_url=BASE)
def test_sync_gives_up_after_the_retries(respx_mock: respx.MockRouter) -> None:
    flaky = respx_mock.post("/v1/cases").mock(return_value=error(502, "http_error"))
    down = respx_mock.get("/v1/cases/C20261123-000001").mock(side_effect=httpx.ReadTimeout("t"))
    with GatewayClient(BASE, "k", retry=FAST) as client:
        with pytest.raises(ServerError) as failed:
            client.create_case(NEW, idempotency_key="mine")
        assert failed.value.status == 502
        assert flaky.call_count == 4 and keys_sent(flaky) == {"mine"}
        with pytest.raises(GatewayUnavailable) as gone:
            client.get_case("C20261123-000001")
        assert gone.value.status == 0 and down.call_count == 4


@pytest.mark.parametrize(
    ("resp", "expected", "field"),
    [
        (error(409, "invalid_transition", "status"), InvalidTransition, "status"),
        (error(403, "not_permitted", "case_no"), NotPermitted, "case_no"),
        (error(422, "invalid_input", "payload.reason"), InvalidInput, "payload.reason"),
        (error(422, "malformed_json", "body"), InvalidInput, "body"),
        (error(404, "not_found", "case_no"), NotFound, "case_no"),
        (error(401, "unauthorized"), AuthenticationError, None),
    ],
)
def test_errors_are_typed_and_4xx_is_not_retried(
    resp: httpx.Response, expected: type[Exception], field: str | None
) -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/cases/C20261123-000001/arrive").mock(return_value=resp)
        with GatewayClient(BASE, "k", retry=FAST) as client, pytest.raises(expected) as err:
            client.act("C20261123-000001", "arrive")
    assert getattr(err.value, "field", None) == field
    assert getattr(err.value, "status", None) == resp.status_code
    assert route.call_count == 1


async def test_async_retries_reuse_the_key() -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/cases/C20261123-000001/complete").mock(
            side_effect=[
                httpx.ReadTimeout("slow"),
                error(503, "concurrent_update"),
                httpx.Response(
                    200,
                    json={
                        "case": CASE,
                        "event": {
                            "seq": 3,
                            "kind": "handled",
                            "actor": "a#1",
                            "role": "department",
                            "department": "CG",
                            "community": None,
                            "at": "2026-11-23T02:00:00Z",
                            "from_status": "in_progress",
                            "to_status": "handled",
                            "payload": {"evidence": ["p"]},
                        },
                        "replayed": True,
                        "run": {"mode": "none"},
                    },
                ),
            ]
        )
        async with AsyncGatewayClient(BASE, "k", retry=FAST) as client:
            out = await client.act(
                "C20261123-000001", "complete", {"evidence": ["p"]}, idempotency_key="done-1"
            )
    assert out.event.kind == "handled" and out.replayed
    assert route.call_count == 3 and keys_sent(route) == {"done-1"}
    assert route.calls[0].request.content == b'{"evidence":["p"]}'


class LoseFirstPost(httpx.BaseTransport):
    """Delivers the first POST to the server, then drops its response (a cut connection)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        if request.method == "POST" and not self.dropped:
            resp.read()
            resp.close()
            self.dropped += 1
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return resp


def test_live_retried_create_after_a_lost_response_makes_one_case(live: str, world: World) -> None:
    w = world
    transport = LoseFirstPost()
    with GatewayClient(live, w.keys["citizen"], retry=FAST, transport=transport) as client:
        out = client.create_case(w.new_case())
        assert transport.dropped == 1
        assert out.replayed is True  # the first attempt made it; the retry saw its key
        assert w.counts()[0] == 1
        assert client.get_case(out.case.case_no).case_no == out.case.case_no
    with GatewayClient(live, w.keys["citizen2"]) as other, pytest.raises(NotPermitted):
        other.get_case(out.case.case_no)  # another app's report


async def test_live_async_client_acts_pages_and_gets_typed_errors(live: str, world: World) -> None:
    w = world
    async with AsyncGatewayClient(live, w.keys["dispatcher"]) as dispatcher:
        made = [
            (await dispatcher.create_case(w.new_case(source="patrol"))).case.case_no
            for _ in range(5)
        ]
        seen = [c.case_no async for c in dispatcher.iter_cases(limit=2)]
        assert seen == sorted(made, reverse=True)
        page = await dispatcher.list_cases(community=w.community, limit=10)
        assert {c.case_no for c in page.items} == set(made)
        assert (await dispatcher.board()).rows == []
    w.dispatch(made[0])
    async with AsyncGatewayClient(live, w.keys["lead"]) as lead:
        ack = await lead.act(made[0], "acknowledge")
        assert ack.case.status == "acknowledged" and ack.event.department == w.lead
        with pytest.raises(InvalidTransition) as refused:
            await lead.act(made[0], "acknowledge")  # a new key: a second acknowledgement
        assert refused.value.field == "status"
        trail = await lead.trail(made[0])
        assert [e.kind for e in trail.events] == ["created", "dispatched", "acknowledged"]
    async with AsyncGatewayClient(live, "gg_00000000_" + "x" * 43) as nobody:
        with pytest.raises(AuthenticationError):
            await nobody.get_case(made[0])


def test_live_intake_calls(live: str, world: World) -> None:
    """Machine batches (resent safely), a citizen request, and the dispatcher's queue."""
    from tests.test_api_intake import machine_key, request, row

    w = world
    token = machine_key(w)["Authorization"].removeprefix("Bearer ")
    batch = [row(w.rt, "k1"), row(w.rt, "k2", type="ufo")]
    with GatewayClient(live, token) as machine:
        first = machine.post_events(batch, window=10)
        assert (first.opened, len(first.refused), first.refused[0].field) == (1, 1, "type")
        assert machine.post_events(batch).already == 1
        with pytest.raises(InvalidInput) as none_good:
            machine.post_events([row(w.rt, "k3", grid="NOWHERE")])
        assert none_good.value.field == "events[1].grid"
    with GatewayClient(live, w.keys["citizen"]) as app_:
        queued = app_.submit_request(request(w, "q1", "井盖坏了"))
        assert queued.status == "queued" and queued.case_no is None
        with pytest.raises(NotPermitted):
            app_.request_queue()
    with GatewayClient(live, w.keys["dispatcher"]) as dispatcher:
        assert [q.id for q in dispatcher.request_queue()] == [queued.id]
        assigned = dispatcher.assign_request(queued.id, "BJ-GY-003")
        assert assigned.status == "assigned" and assigned.case_no
        with pytest.raises(InvalidTransition):
            dispatcher.reject_request(queued.id, "too late")
        assert dispatcher.request_queue() == []
