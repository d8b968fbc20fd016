"""Hostile values at the gateway's edge (issue 14), on the live server, SQLite and PostgreSQL:
control characters, NUL, odd cursors and far-off dates are 4xx naming the field with nothing
stored; unreadable bodies are 422 ``malformed_json``; feeds stay well-formed for rows written
before the rule; a bug's 500 leaves the keep-alive connection usable."""

from __future__ import annotations

import json
from http.client import HTTPConnection
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from gridgov.domain.text import find_problem, printable, text_problem
from gridgov.ledger.models import Case
from tests.api_support import World, app, http, live, serve, world

__all__ = ["app", "http", "live", "world"]  # fixtures

V2 = "/open311/v2"
JSON = {"content-type": "application/json"}


def prefix(key: str) -> str:
    return key.split("_")[1]


def form(w: World, **fields: str) -> dict[str, str]:
    return {
        "api_key": w.keys["citizen"],
        "service_code": w.item.code,
        "attribute[grid]": w.grid,
        **fields,
    }


def test_the_rule() -> None:
    assert text_problem("light\tout\r\n第二行") is None
    for bad in ("\x00", "\x01", "\x1b", "\x7f", "\x85", "\ud800", "\uffff"):
        assert text_problem(bad), repr(bad)
        assert printable(f"a{bad}b") == "ab"
    assert find_problem({"fix": {"evidence": ["ok", "b\x00d"]}}) == (
        "fix.evidence[1]",
        "control character U+0000 at position 1 is not allowed",
    )


OPEN311_REFUSED = [
    # (method, path, params or form, field)
    ("POST", "/requests.json", {"description": "lamp\x01out"}, "description"),
    ("POST", "/requests.xml", {"description": "light\x00out"}, "description"),
    ("POST", "/requests.json", {"phone": "139\x00"}, "phone"),
    ("GET", "/requests.json", {"service_code": "A\x00"}, "service_code"),
    ("GET", "/requests.json", {"service_request_id": "CG\x00"}, "service_request_id"),
    ("GET", "/requests.json", {"start_date": "9999-12-31"}, "start_date"),
    ("GET", "/requests.json", {"end_date": "0001-01-01"}, "end_date"),
    ("GET", "/requests/CG%00.json", {}, "service_request_id"),
    ("GET", "/tokens/CG%00.json", {}, "token"),
    ("GET", "/services/A%01.xml", {}, "service_code"),
]


@pytest.mark.parametrize(("method", "path", "values", "field"), OPEN311_REFUSED)
def test_open311_refuses_control_characters_and_far_dates(
    http: httpx.Client, world: World, method: str, path: str, values: dict[str, str], field: str
) -> None:
    before = world.counts()
    if method == "POST":
        r = http.post(V2 + path, data=form(world, **values))
    else:
        r = http.get(V2 + path, params=values)
    assert r.status_code == 400, r.text
    if path.endswith(".xml"):
        text = ET.fromstring(r.content).findtext("error/description") or ""
    else:
        text = r.json()[0]["description"]
    assert text.startswith(field), text
    assert world.counts() == before


def test_v1_refuses_control_characters_bad_cursors_and_far_dates(
    http: httpx.Client, world: World
) -> None:
    w = world
    before = w.counts()
    auth = w.auth("dispatcher")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("cursor", {"cursor": "c²"}, "cursor"),
        ("cursor", {"cursor": "c①"}, "cursor"),
        ("cursor", {"cursor": "c2147483648"}, "cursor"),
        ("from", {"opened_from": "0001-01-01T00:00:00"}, "opened_from"),
        ("from+14", {"opened_from": "0001-01-01T00:00:00+14:00"}, "opened_from"),
        ("to", {"opened_to": "9999-12-31T23:59:59-12:00"}, "opened_to"),
        ("nul in a code", {"community": "GM\x00"}, "community"),
        ("escape in a name", {"x\x1b": "1"}, "query"),
    ]
    for label, params, field in cases:
        r = http.get("/v1/cases", params=params, headers=auth)
        assert r.status_code == 422, (label, r.text)
        assert r.json()["error"]["field"] == field, (label, r.json())
    bodies = [
        (w.new_case(description="light\x00out"), "description"),
        (w.new_case(reporter="139\x00"), "reporter"),
        (w.new_case(media=["https://img/1.jpg", "x\ud800"]), "media[1]"),
        (w.new_case(building="楼\x7f"), "building"),
    ]
    for body, field in bodies:  # ASCII JSON: a lone surrogate travels as \\ud800
        r = http.post("/v1/cases", content=json.dumps(body), headers=auth | JSON)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field
    made = http.post("/v1/cases", json=w.new_case(), headers=auth)
    assert made.status_code == 201
    w.dispatch(made.json()["case"]["case_no"])
    before = w.counts()
    no = made.json()["case"]["case_no"]
    r = http.post(f"/v1/cases/{no}/return", json={"reason": "not\x00ours"}, headers=w.auth("lead"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason", r.text
    r = http.post(
        f"/v1/cases/{no}/acknowledge", json={"note": {"deep": "\x00"}}, headers=w.auth("lead")
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "note.deep", r.text
    intake = {
        "channel": "app",
        "request_id": "r\x001",
        "reporter": "139",
        "text": "路灯坏了",
        "received_at": "2026-11-23T09:00:00+08:00",
        "community": w.community,
        "grid": w.grid,
    }
    r = http.post("/v1/intake/requests", json=intake, headers=w.auth("citizen"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "request_id", r.text
    assert w.counts() == before


def test_unreadable_bodies_are_malformed_json(http: httpx.Client, world: World) -> None:
    w = world
    before = w.counts()
    auth = w.auth("citizen") | {"content-type": "application/json"}
    for label, content in [
        ("latin-1", json.dumps(w.new_case(description="x")).encode()[:-2] + b'\xe9"}'),
        ("nested", b"[" * 100_000 + b"]" * 100_000),
        ("nested object", b'{"a":' * 40 + b"1" + b"}" * 40),
    ]:
        r = http.post("/v1/cases", content=content, headers=auth)
        assert r.status_code == 422, (label, r.text)
        assert r.json()["error"]["code"] == "malformed_json", label
        assert r.json()["error"]["field"] == "body", label
    assert w.counts() == before


def test_feeds_stay_well_formed_for_rows_stored_before_the_rule(
    http: httpx.Client, world: World
) -> None:
    w = world
    r = http.post(f"{V2}/requests.json", data=form(w, description="路灯 lamp out"))
    assert r.status_code == 201, r.text
    no = r.json()[0]["service_request_id"]
    with w.rt.book.factory.begin() as s:  # what an older gateway let through
        s.execute(update(Case).where(Case.case_no == no).values(description="lamp\x01out\x1b"))
    for path in (f"{V2}/requests.xml", f"{V2}/requests/{no}.xml"):
        doc = ET.fromstring(http.get(path).content)  # raises if not well-formed
        assert doc.findtext("request/description") == "lampout"
    rows = http.get(f"{V2}/requests/{no}.json").json()
    assert rows[0]["description"] == "lampout"


def test_tokens_resolve_public_cases_only(http: httpx.Client, world: World) -> None:
    w = world
    body = w.new_case(source="patrol", reporter="巡查员 7")
    made = http.post(
        "/v1/cases", json=body, headers=w.auth("patroller") | {"Idempotency-Key": "pat-1"}
    )
    assert made.status_code == 201, made.text
    token = f"{prefix(w.keys['patroller'])}.pat-1"
    assert http.get(f"{V2}/tokens/{token}.json").status_code == 404
    r = http.post(f"{V2}/requests.json", data=form(w), headers={"Idempotency-Key": "cit-1"})
    token = r.json()[0]["token"]
    found = http.get(f"{V2}/tokens/{token}.json")
    assert found.status_code == 200
    assert found.json()[0]["service_request_id"] == r.json()[0]["service_request_id"]


def test_a_bug_answers_500_and_keeps_the_connection(app: FastAPI) -> None:
    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        conn = HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("GET", "/v1/boom")
            first = conn.getresponse()
            sock = conn.sock
            assert first.status == 500
            assert json.loads(first.read())["error"]["code"] == "internal"
            assert (first.getheader("connection") or "").lower() != "close"
            conn.request("GET", "/healthz")  # same socket: the server must not have closed it
            assert conn.sock is sock
            assert conn.getresponse().status == 200
        finally:
            conn.close()
