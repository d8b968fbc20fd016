"""The outbox and the webhook notifier (outbound HTTP mocked with respx)."""

from __future__ import annotations

import httpx
import pytest
import respx
from sqlalchemy import select

from gridgov.domain.enums import Role, Source, Tier
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.ledger.models import Notification
from gridgov.notify import MAX_ATTEMPTS, deliver_pending
from gridgov.runtime import Runtime
from tests.conftest import at

HOOK = "http://hooks.test/gridgov"


def _dispatched_case(rt: Runtime) -> int:
    item = next(
        i
        for i in sorted(rt.catalog.in_force(at(2026, 11, 23).date()), key=lambda i: i.code)
        if i.tier == Tier.DEPARTMENT and Source.PATROL in i.sources
    )
    grid = min((u for u in rt.catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    opened = rt.book.open_case(
        {"item_code": item.code, "community": grid.parent, "source": "patrol", "reporter": "p"},
        Actor(Role.PATROLLER, "p"),
        at(2026, 11, 23, 9),
        "o",
    )
    rt.book.act(
        opened.case.case_no,
        EventKind.DISPATCHED,
        Actor(Role.DISPATCHER, "d"),
        at(2026, 11, 23, 9, 5),
        "d",
    )
    return opened.case.id


def _rows(rt: Runtime) -> list[Notification]:
    with rt.book.factory() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def test_event_and_its_notices_are_written_together(runtime: Runtime) -> None:
    _dispatched_case(runtime)
    rows = _rows(runtime)
    assert [r.kind for r in rows][:1] == ["dispatched"]
    assert rows[0].recipient.startswith("department:") and rows[0].status == "pending"


@respx.mock
def test_delivery_marks_sent_with_idempotency_header(runtime: Runtime) -> None:
    case_id = _dispatched_case(runtime)
    route = respx.post(HOOK).mock(return_value=httpx.Response(204))
    report = deliver_pending(runtime.book.factory, HOOK, case_id=case_id, backoff=0)
    rows = _rows(runtime)
    assert report.sent == len(rows) >= 1 and report.failed == 0
    assert all(r.status == "sent" and r.attempts == 1 for r in rows)
    sent_keys = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert sent_keys == {r.idempotency_key for r in rows}
    again = deliver_pending(runtime.book.factory, HOOK, case_id=case_id, backoff=0)
    assert again.sent == 0 and route.call_count == len(rows)  # nothing is sent twice


@respx.mock
def test_retries_then_keeps_it_pending_with_the_error(runtime: Runtime) -> None:
    _dispatched_case(runtime)
    route = respx.post(HOOK).mock(
        side_effect=[httpx.ConnectError("down"), httpx.Response(503), httpx.Response(200)] * 10
    )
    report = deliver_pending(runtime.book.factory, HOOK, retries=2, backoff=0)
    assert report.sent >= 1  # the third try of the first notice got through
    assert route.call_count >= 3
    respx.post(HOOK).mock(return_value=httpx.Response(500, text="boom"))
    for _ in range(MAX_ATTEMPTS):
        deliver_pending(runtime.book.factory, HOOK, retries=0, backoff=0)
    failed = [r for r in _rows(runtime) if r.status != "sent"]
    assert all(r.status == "failed" and "HTTP 500" in (r.last_error or "") for r in failed)


@respx.mock
def test_client_error_is_not_retried(runtime: Runtime) -> None:
    _dispatched_case(runtime)
    route = respx.post(HOOK).mock(return_value=httpx.Response(400, text="bad recipient"))
    report = deliver_pending(runtime.book.factory, HOOK, retries=3, backoff=0)
    assert report.failed == route.call_count  # one call per notice, no retries on 4xx


def test_without_webhook_notices_are_logged(runtime: Runtime) -> None:
    _dispatched_case(runtime)
    report = deliver_pending(runtime.book.factory, None)
    assert report.logged >= 1 and all(r.status == "logged" for r in _rows(runtime))


@pytest.mark.parametrize("status", [200, 202])
@respx.mock
def test_success_codes(runtime: Runtime, status: int) -> None:
    _dispatched_case(runtime)
    respx.post(HOOK).mock(return_value=httpx.Response(status))
    assert deliver_pending(runtime.book.factory, HOOK, backoff=0).failed == 0


def test_concurrent_deliverers_post_each_notice_once(runtime: Runtime) -> None:
    """Several deliverers at once (item flows, sweeps, workers; issue 12 saw 1,500 notices
    become 5,059 posts): each notice is claimed by one of them and posted once. A real local
    receiver, slow enough that the deliverers overlap, counts the posts by idempotency key."""
    import threading
    from datetime import UTC, datetime

    from gridgov.ledger.db import transaction
    from tests.api_support import webhook

    n = 240
    with transaction(runtime.book.factory) as s:
        s.add_all(
            Notification(
                kind="dispatched",
                recipient=f"department:D{i % 7}",
                body={"i": i},
                idempotency_key=f"concurrent-{i}",
                created_at=datetime.now(UTC),
            )
            for i in range(n)
        )
    with webhook(delay=0.002) as (url, posts):
        reports: list[int] = []
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def deliverer() -> None:
            try:
                start.wait()
                while (r := deliver_pending(runtime.book.factory, url, limit=20, backoff=0)).sent:
                    reports.append(r.sent)
            except BaseException as exc:  # reported below: a thread's failure fails the test
                errors.append(exc)

        threads = [threading.Thread(target=deliverer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert len(posts) == n and set(posts.values()) == {1}, posts.most_common(3)
    assert sum(reports) == n
    assert {r.status for r in _rows(runtime)} == {"sent"}
