"""Unmapped columns of an imported history kept as case attributes (both backends): stored as
JSON, searchable through the API, exported back; the source's own channel kept beside ours."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
from sqlalchemy import select

from gridgov.exchange.export import export_ledger
from gridgov.ledger.models import Case
from tests.api_support import World, app, http, live, world
from tests.test_import_support import run

__all__ = ["app", "http", "live", "world"]  # fixtures


def test_unmapped_columns_are_kept_searchable_and_exported(
    world: World, http: httpx.Client, tmp_path: Path
) -> None:
    rt = world.rt
    summary, rejects = run(rt, "extra_columns.csv", "extra_columns_mapping.yaml", tmp_path)
    assert (summary.imported, rejects) == (2, [])
    with rt.book.factory() as s:
        rows = {
            r.source_id: r
            for r in s.execute(
                select(Case.source_id, Case.attributes, Case.source, Case.source_channel)
            )
        }
    assert rows["EX-1"].attributes == {
        "closure_reason": "Case Resolved",
        "queue": "Street Cleaning",
        "address": "1 Main St",
        "photo": "http://example.invalid/p/1.jpg",
    }
    assert rows["EX-2"].attributes == {"queue": "Noise Desk", "address": "2 Side St, Apt 3"}
    assert (rows["EX-1"].source, rows["EX-1"].source_channel) == ("citizen", "Mobile App")

    auth = world.auth("supervisor")
    found = http.get("/v1/cases", params={"attr": "queue=Noise Desk"}, headers=auth)
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert [c["source_channel"] for c in items] == ["Phone"]
    assert items[0]["attributes"]["address"] == "2 Side St, Apt 3"
    both = http.get(
        "/v1/cases",
        params=[("attr", "queue=Street Cleaning"), ("attr", "closure_reason=Case Resolved")],
        headers=auth,
    )
    assert [c["attributes"]["photo"] for c in both.json()["items"]] == [
        "http://example.invalid/p/1.jpg"
    ]
    none = http.get("/v1/cases", params={"attr": "queue=Nowhere"}, headers=auth)
    assert none.json()["items"] == []
    for wrong in ("no-equals-sign", 'a"b=1', "x[0]=1", "=1"):
        bad = http.get("/v1/cases", params={"attr": wrong}, headers=auth)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "attr", wrong

    export_ledger(rt.engine, rt.calendar.tz, "csv", tmp_path / "out")
    cases = pd.read_csv(tmp_path / "out" / "cases.csv", keep_default_na=False)
    back = dict(zip(cases["source_id"], cases["attributes"], strict=True))
    assert json.loads(back["EX-2"]) == {"queue": "Noise Desk", "address": "2 Side St, Apt 3"}
