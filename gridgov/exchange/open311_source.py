"""Service requests from an Open311 GeoReport v2 server (``GET requests.json``), with httpx.

GeoReport v2 has no paging: a query names a date window (``start_date``/``end_date``, both
inclusive, on ``requested_datetime``) and the server answers with at most its cap of requests
(1000 by default, and at most 90 days). So the import walks the period in windows of
``window_days``; a window whose answer is full may have been cut, so it is halved and asked
again, down to ``min_window_seconds``. Servers that support the common ``page``/``page_size``
extension can be read page by page instead (``paging: page``). A request on a window's edge
can come back twice: identical copies are kept once.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx

from gridgov.domain.errors import InvalidInput
from gridgov.exchange.mapping import Mapping
from gridgov.exchange.readers import Record, RecordSource

MAX_PAGES = 100_000


class Open311Reader:
    def __init__(
        self,
        base_url: str,
        mapping: Mapping,
        start: datetime,
        end: datetime,
        client: httpx.Client | None = None,
    ) -> None:
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("the Open311 period needs timezone-aware times", field="start")
        if end <= start:
            raise InvalidInput("the Open311 period ends before it starts", field="end")
        self.url = base_url.rstrip("/") + "/requests.json"
        self.opts = mapping.open311
        self.start, self.end = start, end
        self.client = client
        self.requests = 0  # HTTP requests made (tests and the CLI report it)

    def _get(
        self, client: httpx.Client, a: datetime, b: datetime, page: int | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"start_date": a.isoformat(), "end_date": b.isoformat()}
        if self.opts.jurisdiction_id:
            params["jurisdiction_id"] = self.opts.jurisdiction_id
        if page is not None:
            params.update(page=page, page_size=self.opts.page_size)
        self.requests += 1
        try:
            resp = client.get(self.url, params=params)
        except httpx.HTTPError as exc:
            raise InvalidInput(f"Open311 server {self.url}: {exc}", field="open311") from exc
        if resp.status_code != 200:
            raise InvalidInput(
                f"Open311 server answered {resp.status_code} for {resp.url}: {resp.text[:200]}",
                field="open311",
            )
        try:
            data = resp.json()
        except ValueError as exc:
            raise InvalidInput(f"Open311 server {self.url}: not JSON", field="open311") from exc
        if not isinstance(data, list):
            raise InvalidInput(f"Open311 server {self.url}: expected a JSON list", field="open311")
        return data

    def _window(self, client: httpx.Client, a: datetime, b: datetime) -> list[Any]:
        if self.opts.paging == "page":
            rows: list[Any] = []
            for page in range(1, MAX_PAGES + 1):
                got = self._get(client, a, b, page)
                rows += got
                if len(got) < self.opts.page_size:
                    return rows
            raise InvalidInput(f"more than {MAX_PAGES} pages in one window", field="open311")
        rows = self._get(client, a, b)
        if len(rows) < self.opts.max_per_response:
            return rows
        if (b - a).total_seconds() <= self.opts.min_window_seconds:
            raise InvalidInput(
                f"{len(rows)} requests between {a.isoformat()} and {b.isoformat()} reach the "
                "server's cap; use paging: page or a larger max_per_response",
                field="open311.max_per_response",
            )
        mid = a + (b - a) / 2
        return self._window(client, a, mid) + self._window(client, mid, b)

    def fetch(self) -> list[Record]:
        client = self.client or httpx.Client(timeout=self.opts.timeout_seconds)
        try:
            seen: set[str] = set()
            out: list[Record] = []
            step = timedelta(days=self.opts.window_days)
            a = self.start
            while a < self.end:
                b = min(a + step, self.end)
                for rec in self._window(client, a, b):
                    if not isinstance(rec, dict):
                        out.append((len(out) + 1, "not a JSON object"))
                        continue
                    key = json.dumps(rec, sort_keys=True, ensure_ascii=False)
                    if key not in seen:  # the same request at a window's edge
                        seen.add(key)
                        out.append((len(out) + 1, rec))
                a = b
            return out
        finally:
            if self.client is None:
                client.close()


def open311_source(
    base_url: str,
    mapping: Mapping,
    start: datetime | None = None,
    end: datetime | None = None,
    client: httpx.Client | None = None,
) -> tuple[RecordSource, Open311Reader]:
    """Fetch every request of the period (the CLI's or the mapping's) and read them as rows."""
    start = start or mapping.open311.start
    end = end or mapping.open311.end
    if start is None or end is None:
        raise InvalidInput(
            "an Open311 import needs a period: --since/--until or open311.start/end in the mapping",
            field="open311.start",
        )
    tz = mapping.tz
    start = start if start.tzinfo else start.replace(tzinfo=tz)
    end = end if end.tzinfo else end.replace(tzinfo=tz)
    reader = Open311Reader(base_url, mapping, start, end, client)
    return RecordSource(reader.fetch(), mapping), reader
