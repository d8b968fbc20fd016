"""Shared set-up of the gateway tests: keys for every role, a live uvicorn, ledger counts,
a local webhook receiver.

Imported by tests/test_api*.py, test_open311*.py, test_client*.py, test_notify.py and the
production drill (fixtures are re-exported there); not a test module itself.
"""

from __future__ import annotations

import contextvars
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from gridgov import clock
from gridgov.api.app import create_app
from gridgov.api.keystore import create_key
from gridgov.domain.enums import Role, Source, TerritoryKind, Tier
from gridgov.domain.lifecycle import SYSTEM, EventKind
from gridgov.item_catalog.models import Item
from gridgov.ledger.models import Case, CaseEvent, Notification
from gridgov.ledger.risk_models import CitizenRequest, IntakeEvent
from gridgov.runtime import Runtime
from tests.conftest import at

DAY = at(2026, 11, 23).date()


@dataclass
class World:
    """A ledger with keys for every role, and the item and places the tests use."""

    rt: Runtime
    item: Item  # tier 3, reported by patrollers and citizens, with assisting departments
    community: str
    grid: str
    other_community: str  # in another street
    lead: str
    assisting: str
    other_dept: str
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def new_case(self, **over: Any) -> dict[str, Any]:
        body = {
            "item_code": self.item.code,
            "community": self.community,
            "grid": self.grid,
            "source": "citizen",
            "reporter": "139-0000-0000",
            "description": "垃圾堆在路边 rubbish by the road",
        }
        body.update(over)
        return body

    def counts(self) -> tuple[int, ...]:
        """Rows in cases, case_events, notifications, citizen_requests and intake_events."""
        with self.rt.book.factory() as s:
            return tuple(
                s.scalar(select(func.count()).select_from(table)) or 0
                for table in (Case, CaseEvent, Notification, CitizenRequest, IntakeEvent)
            )

    def dispatch(self, case_no: str) -> None:
        """What the item flow does right after a report (launch mode ``none`` does not)."""
        self.rt.book.act(case_no, EventKind.DISPATCHED, SYSTEM, clock.now(), f"dispatch-{case_no}")


def pick_item(rt: Runtime) -> Item:
    return next(
        i
        for i in sorted(rt.catalog.in_force(DAY), key=lambda i: i.code)
        if i.tier == Tier.DEPARTMENT
        and {Source.CITIZEN, Source.PATROL} <= set(i.sources)
        and i.assisting_departments
    )


def build_world(rt: Runtime) -> World:
    item = pick_item(rt)
    grids = sorted(rt.catalog.units(TerritoryKind.GRID), key=lambda u: u.code)
    grid = grids[0]
    assert grid.parent is not None
    street = rt.catalog.street_of(grid.parent)
    other = next(
        u.code
        for u in sorted(rt.catalog.units(TerritoryKind.COMMUNITY), key=lambda u: u.code)
        if u.parent != street
    )
    lead, assisting = item.lead_department, item.assisting_departments[0]
    other_dept = next(
        d for d in sorted(rt.catalog.departments) if d not in (lead, assisting, "COMMUNITY")
    )
    w = World(rt, item, grid.parent, grid.code, other, lead, assisting, other_dept)
    f, cat = rt.book.factory, rt.catalog
    specs: dict[str, tuple[Role, dict[str, str]]] = {
        "lead": (Role.DEPARTMENT, {"department": lead}),
        "assisting": (Role.DEPARTMENT, {"department": assisting}),
        "other_dept": (Role.DEPARTMENT, {"department": other_dept}),
        "community": (Role.COMMUNITY, {"scope": grid.parent}),
        "other_community": (Role.COMMUNITY, {"scope": other}),
        "dispatcher": (Role.DISPATCHER, {}),
        "street_dispatcher": (Role.DISPATCHER, {"scope": street}),
        "far_dispatcher": (Role.DISPATCHER, {"scope": other}),
        "reviewer": (Role.REVIEWER, {}),
        "supervisor": (Role.SUPERVISOR, {}),
        "auditor": (Role.AUDITOR, {}),
        "citizen": (Role.CITIZEN, {}),
        "citizen2": (Role.CITIZEN, {}),
        "patroller": (Role.PATROLLER, {"scope": grid.parent}),
    }
    for name, (role, unit) in specs.items():
        w.keys[name], _ = create_key(f, cat, role, f"test {name}", **unit)
    return w


@pytest.fixture
def world(runtime: Runtime) -> World:
    return build_world(runtime)


@pytest.fixture
def app(world: World) -> FastAPI:
    return create_app(world.rt, "none", key_ttl=0)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on a real uvicorn on 127.0.0.1 (a free port) in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    # Copy the context: Prefect's test-harness settings live in context variables.
    ctx = contextvars.copy_context()
    thread = threading.Thread(
        target=ctx.run, args=(server.run,), kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def webhook(delay: float = 0) -> Iterator[tuple[str, Counter[str]]]:
    """A local webhook receiver on a free port: its URL, and the posts it got counted by
    ``Idempotency-Key``. ``delay``: seconds each post takes (so concurrent deliverers
    overlap)."""
    posts: Counter[str] = Counter()
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                posts[self.headers["Idempotency-Key"]] += 1
            if delay:
                time.sleep(delay)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass  # the test reads the counts, not an access log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", posts
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def http(live: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live, timeout=30) as client:
        yield client


def not_ready_answer(path: str, status: int, content: bytes) -> bool:
    """``/readyz`` answers 503 by design while a check is out of bounds (in a test app no sweep
    has run): its documented answer, not a server failure. The fuzzers allow exactly that."""
    if path != "/readyz" or status != 503:
        return False
    body = json.loads(content)
    return isinstance(body, dict) and body.get("status") == "not_ready"
