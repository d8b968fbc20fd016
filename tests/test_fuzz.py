"""Fuzzing every operation of ``/v1`` and ``/open311/v2`` (issue 14), SQLite and PostgreSQL.

Two generators, in process (httpx/ASGI, no sockets), against a small ledger seeded with a few
cases so that generated case numbers also hit real cases:

* **schemathesis** draws requests that follow our OpenAPI document (types, patterns,
  limits), so they reach the handlers and the case book;
* **hypothesis** draws hostile requests for every route the app has: control characters,
  NUL, lone surrogates, far-off dates, odd cursors and numbers in path, query, form and JSON
  values; raw bytes that are not UTF-8; deeply nested JSON; random keys (of every role, bogus
  or none).

Every answer must be below 500 and well-formed (JSON parses, XML parses), and a refused
request (4xx) must commit no write: an engine listener counts committed transactions that
ran INSERT/UPDATE/DELETE. The number of requests sent is counted and asserted
(:data:`AT_LEAST` per backend), so the suite cannot quietly shrink.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from gridgov.api.app import create_app
from tests.api_support import World, not_ready_answer, world

__all__ = ["world"]  # fixtures

AT_LEAST = 10_000  # requests per backend and run (the floor)
# Examples per operation: schemathesis over 31 operations (slow to draw), hypothesis over the
# 30 routes (cheap): 31 × 40 + 30 × 310 = 10,540 requests.
SCHEMA_EXAMPLES = int(os.environ.get("GRIDGOV_FUZZ_SCHEMA_EXAMPLES", "40"))
HOSTILE_EXAMPLES = int(os.environ.get("GRIDGOV_FUZZ_HOSTILE_EXAMPLES", "310"))


# Derandomised by default: the same requests every run, so a landing that passes here passes
# in CI (a random find in the team's final CI run would cost everyone). GRIDGOV_FUZZ_RANDOM=1
# explores new ones (do that locally, e.g. with more examples).
RANDOM = os.environ.get("GRIDGOV_FUZZ_RANDOM") == "1"


def fast(examples: int) -> settings:
    """Generate and, on a failure, shrink; no example database, no deadline (a loaded CI
    machine), no health checks (the fixtures are per test on purpose)."""
    return settings(
        max_examples=examples,
        derandomize=not RANDOM,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )


class WriteWatch:
    """Counts committed transactions that wrote something (INSERT/UPDATE/DELETE ran)."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT", "WITH")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dirty: set[int] = set()
        self.committed = 0
        event.listen(engine, "after_cursor_execute", self._executed)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def close(self) -> None:
        event.remove(self.engine, "after_cursor_execute", self._executed)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "rollback", self._rollback)

    def _executed(self, conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:7].upper().startswith(self.WRITES):
            self.dirty.add(id(conn))

    def _commit(self, conn: Any) -> None:
        if id(conn) in self.dirty:
            self.dirty.discard(id(conn))
            self.committed += 1

    def _rollback(self, conn: Any) -> None:
        self.dirty.discard(id(conn))


@dataclass
class Probe:
    """Sends, checks and counts."""

    world: World
    watch: WriteWatch
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    def check(self, method: str, path: str, status: int, ctype: str, content: bytes) -> None:
        self.sent += 1
        self.statuses[status] += 1
        where = (method, path, status, content[:300])
        if not_ready_answer(path, status, content):
            return
        assert status < 500, where
        if not content:
            return
        if "json" in ctype:
            json.loads(content)  # raises if not well-formed
        elif "xml" in ctype:
            ET.fromstring(content)

    def refused_wrote_nothing(self, before: int, status: int, where: Any) -> None:
        if status >= 400:
            assert self.watch.committed == before, ("a refused request wrote", where)


@pytest.fixture
def gateway(world: World) -> Iterator[tuple[FastAPI, Probe]]:
    world.rt.settings.public_reads_per_minute = 0  # the fuzzers read much faster than people
    app = create_app(world.rt, "none", key_ttl=3600)
    watch = WriteWatch(world.rt.engine)
    try:
        yield app, Probe(world, watch)
    finally:
        watch.close()
        world.rt.settings.public_reads_per_minute = 120


def seed(client: TestClient, w: World) -> list[str]:
    """A few cases in different states, so generated case numbers can hit real ones."""
    numbers = []
    for n in range(4):
        r = client.post(
            "/v1/cases", json=w.new_case(description=f"seed {n}"), headers=w.auth("dispatcher")
        )
        assert r.status_code == 201, r.text
        numbers.append(r.json()["case"]["case_no"])
    for no in numbers[1:]:
        w.dispatch(no)
    return numbers


# ------------------------------------------------------------------------ hostile values
BAD_CHARS = st.sampled_from(["\x00", "\x01", "\x1b", "\x7f", "\x85", "\ud800", "\uffff", "\x0b"])
ODD = st.sampled_from(
    [
        "c²",
        "c①",
        "c2147483648",
        "c-1",
        "c" + "9" * 30,
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31",
        "0001-01-01",
        "NaN",
        "inf",
        "-0",
        "1e309",
        "",
        " ",
        "%00",
        "../../etc/passwd",
        "<x/>",
        "]]>",
        "'; drop table cases; --",
        "javascript:alert(1)",
        "字" * 300,
        "A" * 5000,
    ]
)


def _inject(pair: tuple[str, str], at: int) -> str:
    base, bad = pair
    at = at % (len(base) + 1)
    return base[:at] + bad + base[at:]


# Cheap to draw (the suite must send thousands a minute): short text, the odd values above,
# and either with a forbidden character put somewhere inside.
PLAIN = st.text(max_size=12) | ODD
HOSTILE_TEXT = PLAIN | st.builds(_inject, st.tuples(PLAIN, BAD_CHARS), st.integers(0, 40))
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT
JSON_VALUES = (
    SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(HOSTILE_TEXT, SCALARS, max_size=3)
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {params}
    params: tuple[str, ...]
    fields: tuple[str, ...]  # body and query field names it knows


def routes(app: FastAPI) -> list[Route]:
    """Every operation of the OpenAPI document under /v1 and /open311/v2, with the names of
    its path parameters and of the fields it knows (query and body)."""
    doc = app.openapi()
    out = []
    for path, ops in doc["paths"].items():
        if not path.startswith(("/v1", "/open311/v2")):
            continue
        for method, op in ops.items():
            params = op.get("parameters", [])
            in_path = tuple(p["name"] for p in params if p["in"] == "path")
            known = [p["name"] for p in params if p["in"] == "query"]
            for media in op.get("requestBody", {}).get("content", {}).values():
                schema = media.get("schema", {})
                if "$ref" in schema:
                    name = schema["$ref"].rsplit("/", 1)[1]
                    schema = doc["components"]["schemas"][name]
                known += list(schema.get("properties", {}))
            out.append(Route(method.upper(), path, in_path, tuple(dict.fromkeys(known))))
    return out


def bodies(fields: tuple[str, ...]) -> st.SearchStrategy[tuple[str, bytes]]:
    """(content type, raw body): JSON objects over the route's own fields, form bodies,
    bytes that are not UTF-8, deeply nested JSON."""
    names = st.sampled_from(fields or ("x",)) | HOSTILE_TEXT
    obj = st.dictionaries(names, JSON_VALUES, max_size=6)
    as_json = obj.map(lambda d: ("application/json", json.dumps(d).encode()))
    as_form = st.dictionaries(names, HOSTILE_TEXT, max_size=6).map(
        lambda d: (
            "application/x-www-form-urlencoded",
            httpx.QueryParams(d).__str__().encode()
            if all("\ud800" not in k + v for k, v in d.items())
            else b"a=%00",
        )
    )
    raw = st.binary(max_size=64).map(lambda b: ("application/json", b"\xff" + b))
    deep = st.integers(33, 5000).map(lambda n: ("application/json", b"[" * n + b"]" * n))
    lines = st.lists(obj, max_size=3).map(
        lambda rows: ("application/x-ndjson", "\n".join(json.dumps(r) for r in rows).encode())
    )
    return st.one_of(as_json, as_json, as_form, raw, deep, lines)


def quote(value: str) -> str:
    from urllib.parse import quote as q

    return q(value.encode("utf-8", "surrogatepass"), safe="")


def ctype_of(headers: Any) -> str:
    value = headers.get("content-type", "")
    return str(value[0] if isinstance(value, list) and value else value)


def follow_schema(
    operation: Any, probe: Probe, keys: list[dict[str, str]], case_nos: list[str]
) -> None:
    """schemathesis: requests that follow the OpenAPI document."""

    @fast(SCHEMA_EXAMPLES)
    @given(
        case=operation.as_strategy(),
        who=st.sampled_from(keys),
        real=st.sampled_from(case_nos) | st.none(),
    )
    def follow(case: Any, who: dict[str, str], real: str | None) -> None:
        if real and "case_no" in (case.path_parameters or {}):
            case.path_parameters["case_no"] = real
        before = probe.watch.committed
        r = case.call(headers=who)
        probe.check(case.method, case.formatted_path, r.status_code, ctype_of(r.headers), r.content)
        probe.refused_wrote_nothing(before, r.status_code, (case.method, case.formatted_path))

    follow()


def request_for(
    route: Route, keys: list[dict[str, str]], case_nos: list[str]
) -> st.SearchStrategy[tuple[str, dict[str, str], bytes]]:
    """(url, headers, body) for ``route``: hostile values in its path, query and body."""
    values: list[st.SearchStrategy[str]] = []
    for name in route.params:
        if name == "fmt":
            values.append(st.sampled_from(["json", "xml"]) | HOSTILE_TEXT)
        elif name == "case_no":
            values.append(st.sampled_from(case_nos) | HOSTILE_TEXT)
        else:
            values.append(HOSTILE_TEXT | st.integers().map(str))
    names = st.sampled_from(route.fields or ("x",)) | HOSTILE_TEXT
    query = st.lists(st.tuples(names, HOSTILE_TEXT), max_size=4)
    writes = route.method in ("POST", "PUT", "PATCH")
    body = bodies(route.fields) if writes else st.just(("", b""))
    idem = st.none() | st.text(
        st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8
    )

    def build(
        parts: tuple[str, ...],
        q: list[tuple[str, str]],
        who: dict[str, str],
        b: tuple[str, bytes],
        key: str | None,
    ) -> tuple[str, dict[str, str], bytes]:
        path = route.path
        for name, value in zip(route.params, parts, strict=True):
            path = path.replace("{" + name + "}", quote(value) or "x")
        qs = "&".join(f"{quote(k)}={quote(v)}" for k, v in q)
        headers = dict(who)
        if b[0]:
            headers["content-type"] = b[0]
        if key is not None:
            headers["Idempotency-Key"] = key
        return path + ("?" + qs if qs else ""), headers, b[1]

    return st.builds(build, st.tuples(*values), query, st.sampled_from(keys), body, idem)


def hostile_requests(
    route: Route,
    client: TestClient,
    probe: Probe,
    keys: list[dict[str, str]],
    case_nos: list[str],
) -> None:
    """hypothesis: hostile values in the path, query, headers and body of ``route``."""

    @fast(HOSTILE_EXAMPLES)
    @given(req=request_for(route, keys, case_nos))
    def hostile(req: tuple[str, dict[str, str], bytes]) -> None:
        url, headers, content = req
        before = probe.watch.committed
        r = client.request(route.method, url, content=content, headers=headers)
        probe.check(route.method, url, r.status_code, ctype_of(r.headers), r.content)
        probe.refused_wrote_nothing(before, r.status_code, (route.method, url))

    hostile()


# ------------------------------------------------------------------------------- the test
def test_fuzz_every_operation(gateway: tuple[FastAPI, Probe], world: World) -> None:
    app, probe = gateway
    w = world
    started, cpu = time.monotonic(), time.process_time()
    with TestClient(app, raise_server_exceptions=False) as client:
        case_nos = seed(client, w)
        keys = [w.auth(k) for k in ("dispatcher", "lead", "citizen", "patroller", "auditor")]
        keys += [{}, {"Authorization": "Bearer gg_00000000_" + "x" * 43}]
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 30, len(operations)
        for operation in operations:
            follow_schema(operation, probe, keys[:4], case_nos)
        schema_sent, schema_cpu = probe.sent, time.process_time() - cpu
        table = routes(app)
        assert len(table) >= 25, len(table)
        for route in table:
            hostile_requests(route, client, probe, keys, case_nos)
    took, cpu = time.monotonic() - started, time.process_time() - cpu
    print(
        f"\nfuzz {w.rt.engine.dialect.name}: {probe.sent} requests "
        f"(schemathesis {schema_sent}, hostile {probe.sent - schema_sent}) in {took:.0f} s, "
        f"CPU {cpu:.0f} s (schemathesis {schema_cpu:.0f} s); "
        f"statuses {dict(sorted(probe.statuses.items()))}; {probe.watch.committed} writes"
    )
    assert probe.sent >= AT_LEAST
