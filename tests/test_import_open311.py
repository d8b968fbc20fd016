"""Open311 GeoReport v2 as a source: window paging (respx) and a live server (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from gridgov.domain.errors import InvalidInput
from gridgov.exchange.importer import Importer
from gridgov.exchange.mapping import load_mapping, parse_mapping
from gridgov.exchange.open311_source import open311_source
from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import Runtime
from tests.conftest import at
from tests.test_import_support import (
    FIXTURES,
    NOW,
    answer,
    case,
    live_server,
    local,
    open311_app,
    open311_records,
    read_rejects,
    trail,
)

BASE = "http://open311.test/open311/v2"
START, END = at(2026, 10, 1), at(2026, 10, 13)


def _mock(records: list[dict[str, Any]], cap: int, seen: list[dict[str, str]]) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        return httpx.Response(200, json=answer(records, params, cap))

    respx.get(f"{BASE}/requests.json").mock(side_effect=reply)


@respx.mock
def test_full_answers_halve_the_window_until_nothing_is_cut(catalog: Catalog) -> None:
    m = load_mapping(FIXTURES / "open311_mapping.yaml", catalog)  # cap 3, windows of 10 days
    seen: list[dict[str, str]] = []
    _mock(open311_records(), 3, seen)
    source, reader = open311_source(BASE, m, START, END)
    ids = [rec["service_request_id"] for _, rec in source.records if isinstance(rec, dict)]
    assert sorted(ids) == [f"O-{i:03d}" for i in range(1, 11)]  # all, each once
    assert len(ids) == 10
    assert reader.requests == len(seen) > 2  # the first window was split
    assert all(p["jurisdiction_id"] == "gm.sz" for p in seen)
    assert seen[0]["start_date"] == "2026-10-01T00:00:00+08:00"
    assert seen[0]["end_date"] == "2026-10-11T00:00:00+08:00"
    assert seen[-1]["end_date"] == "2026-10-13T00:00:00+08:00"


@respx.mock
def test_page_mode_reads_page_by_page(catalog: Catalog) -> None:
    base = load_mapping(FIXTURES / "open311_mapping.yaml", catalog).model_dump()
    base["open311"] |= {"paging": "page", "page_size": 4, "window_days": 30}
    m = parse_mapping(base)
    seen: list[dict[str, str]] = []
    _mock(open311_records(), 3, seen)
    source, _ = open311_source(BASE, m, START, END)
    assert len(list(source.records)) == 10
    assert [p["page"] for p in seen] == ["1", "2", "3"]  # 4 + 4 + 2 (short page: done)


@respx.mock
def test_server_errors_and_a_cap_that_cannot_be_split_are_clear(catalog: Catalog) -> None:
    m = load_mapping(FIXTURES / "open311_mapping.yaml", catalog)
    respx.get(f"{BASE}/requests.json").mock(return_value=httpx.Response(503, text="down"))
    with pytest.raises(InvalidInput, match="answered 503") as exc:
        open311_source(BASE, m, START, END)
    assert exc.value.field == "open311"
    same_moment = [
        dict(r, requested_datetime="2026-10-03T09:00:00+08:00") for r in open311_records()
    ]
    respx.get(f"{BASE}/requests.json").mock(
        side_effect=lambda req: httpx.Response(
            200, json=answer(same_moment, dict(req.url.params), 3)
        )
    )
    with pytest.raises(InvalidInput, match="reach the server's cap") as exc:
        open311_source(BASE, m, START, END)
    assert exc.value.field == "open311.max_per_response"
    with pytest.raises(InvalidInput, match="needs a period"):
        open311_source(BASE, m)


def test_import_from_a_live_open311_server(runtime: Runtime, tmp_path: Path) -> None:
    m = load_mapping(FIXTURES / "open311_mapping.yaml", runtime.catalog)
    seen: list[dict[str, str]] = []
    with live_server(open311_app(open311_records(), 3, seen)) as url:
        source, reader = open311_source(url, m, START, END)
    assert reader.requests == len(seen) > 2
    out = tmp_path / "rejects.csv"
    summary = Importer(runtime.book, m, now=NOW, rejects=out).run(source)
    assert (summary.read, summary.imported, summary.rejected_total) == (10, 10, 0)
    assert read_rejects(out) == []
    closed = case(runtime, "O-001")
    assert (closed.item_code, closed.assignee, closed.status) == ("SJ-SR-001", "CG", "closed")
    assert (closed.grid_code, closed.community_code, closed.source) == (
        "GM-GM-GUANGMING-G06",
        "GM-GM-GUANGMING",
        "citizen",
    )
    assert local(closed.closed_at) == at(2026, 10, 2, 9, 30)  # updated_datetime, when closed
    water = case(runtime, "O-007")  # open, with the server's expected_datetime as deadline
    assert (water.status, water.assignee, water.deadline_source) == ("dispatched", "SW", "source")
    assert local(water.handle_due) == at(2026, 10, 7, 18) and water.closed_at is None
    other = case(runtime, "O-009")  # a service code we do not have: the catch-all item
    assert (other.item_code, other.assignee) == ("SH-JF-004", "COMMUNITY")
    assert [e.kind for e in trail(runtime, "O-009")] == ["created", "handled", "closed"]
    # A second pass over the same server changes nothing.
    with live_server(open311_app(open311_records(), 3, [])) as url:
        source, _ = open311_source(url, m, START, END)
    again = Importer(runtime.book, m, now=NOW, rejects=out).run(source)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 10)
