"""Helpers for the import and export tests (no tests here): fixtures on disk, a fixed "now",
ledger queries, and a tiny Open311 server (Starlette) for httpx and for a live uvicorn."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gridgov.exchange.importer import Importer, Summary
from gridgov.exchange.mapping import Mapping, load_mapping
from gridgov.exchange.readers import RowSource, open_file
from gridgov.ledger.models import Case, CaseEvent
from gridgov.runtime import Runtime
from tests.conftest import at

FIXTURES = Path(__file__).parent / "fixtures" / "import"
NOW = at(2026, 10, 13, 12, 0)  # the import runs here: after every fixture row


def mapping(rt: Runtime, name: str) -> Mapping:
    return load_mapping(FIXTURES / name, rt.catalog)


def run(
    rt: Runtime, data: str, mapping_file: str, tmp: Path, **kw: Any
) -> tuple[Summary, list[dict[str, str]]]:
    """Import a fixture file; return the summary and the reject file's rows."""
    m = mapping(rt, mapping_file)
    rejects = tmp / f"{data}.rejects.csv"
    source: RowSource = open_file(FIXTURES / data, m)
    summary = Importer(rt.book, m, now=kw.pop("now", NOW), rejects=rejects, **kw).run(source)
    return summary, read_rejects(rejects)


def read_rejects(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def case(rt: Runtime, source_id: str) -> Case:
    with rt.book.factory() as s:
        c = s.scalar(select(Case).where(Case.source_id == source_id))
        assert c is not None, source_id
        return c


def trail(rt: Runtime, source_id: str) -> list[CaseEvent]:
    with rt.book.factory() as s:
        cid = s.scalar(select(Case.id).where(Case.source_id == source_id))
        return list(
            s.scalars(select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq))
        )


def counts(rt: Runtime) -> tuple[int, int]:
    from sqlalchemy import func

    with rt.book.factory() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Case)) or 0),
            int(s.scalar(select(func.count()).select_from(CaseEvent)) or 0),
        )


def local(t: datetime) -> datetime:
    return t.astimezone(NOW.tzinfo)


# -- a GeoReport v2 server ---------------------------------------------------------------------


def open311_records() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        (FIXTURES / "open311_requests.json").read_text(encoding="utf-8")
    )
    return data


def answer(records: list[dict[str, Any]], params: dict[str, str], cap: int) -> list[Any]:
    """What the server returns: requests in [start_date, end_date] (both inclusive), oldest
    first, cut at ``cap`` unless a ``page`` is asked for."""
    start = datetime.fromisoformat(params["start_date"])
    end = datetime.fromisoformat(params["end_date"])
    rows = sorted(
        (r for r in records if start <= datetime.fromisoformat(r["requested_datetime"]) <= end),
        key=lambda r: (r["requested_datetime"], r["service_request_id"]),
    )
    if "page" in params:
        size, page = int(params["page_size"]), int(params["page"])
        return rows[(page - 1) * size : page * size]
    return rows[:cap]


def open311_app(records: list[dict[str, Any]], cap: int, seen: list[dict[str, str]]) -> Starlette:
    async def requests_json(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        seen.append(params)
        if params.get("jurisdiction_id") != "gm.sz":
            return JSONResponse([{"code": 404, "description": "jurisdiction"}], status_code=404)
        return JSONResponse(answer(records, params, cap))

    return Starlette(routes=[Route("/open311/v2/requests.json", requests_json)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(app: Starlette) -> Iterator[str]:
    """The app on a real uvicorn on 127.0.0.1 (a free port), for the test's duration."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test Open311 server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/open311/v2"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
