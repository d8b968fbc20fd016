"""Open311 GeoReport v2 on the live gateway: JSON and XML, the spec's fields and errors, and a
third-party client (the ``georeport`` package) used unchanged."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from georeport import GeoReport

from gridgov import clock
from gridgov.api.open311.locate import BBOX, Locator
from gridgov.domain.enums import Source
from gridgov.domain.errors import InvalidInput
from gridgov.ledger.models import CaseEvent
from tests.api_support import World, app, http, live, world

__all__ = ["app", "http", "live", "world"]  # fixtures

V2 = "/open311/v2"
ISO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def post(http: httpx.Client, w: World, fmt: str = "json", **fields: Any) -> httpx.Response:
    form = {"api_key": w.keys["citizen"], "service_code": w.item.code, **fields}
    headers = {"Idempotency-Key": fields.pop("_key")} if "_key" in fields else {}
    form.pop("_key", None)
    return http.post(f"{V2}/requests.{fmt}", data=form, headers=headers)


def test_services_list_and_definition_in_json_and_xml(http: httpx.Client, world: World) -> None:
    services = http.get(f"{V2}/services.json", params={"jurisdiction_id": "gm"})
    assert services.status_code == 200
    assert services.headers["content-type"].startswith("application/json")
    rows = services.json()
    day = clock.now().date()
    citizen_items = {i.code for i in world.rt.catalog.in_force(day) if Source.CITIZEN in i.sources}
    assert {r["service_code"] for r in rows} == citizen_items
    first = next(r for r in rows if r["service_code"] == world.item.code)
    assert first["service_name"] == world.item.name_zh
    assert first["metadata"] is False and first["type"] == "realtime"
    assert first["group"] == world.item.category and isinstance(first["keywords"], str)
    xml = http.get(f"{V2}/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert set(codes) == citizen_items
    assert root.find("service/metadata").text == "false"  # type: ignore[union-attr]
    definition = http.get(f"{V2}/services/{world.item.code}.json").json()
    assert definition["service_code"] == world.item.code
    assert [a["code"] for a in definition["attributes"]] == ["grid", "community"]
    assert all(a["required"] is False for a in definition["attributes"])
    xdef = ET.fromstring(http.get(f"{V2}/services/{world.item.code}.xml").content)
    assert xdef.tag == "service_definition"
    assert [a.findtext("code") for a in xdef.findall("attributes/attribute")] == [
        "grid",
        "community",
    ]
    missing = http.get(f"{V2}/services/NO-SUCH-1.xml")
    assert missing.status_code == 404
    err = ET.fromstring(missing.content)
    assert err.tag == "errors" and err.findtext("error/code") == "404"
    assert "NO-SUCH-1" in (err.findtext("error/description") or "")


def test_post_request_records_a_citizen_case(http: httpx.Client, world: World) -> None:
    w = world
    r = post(
        http,
        w,
        **{
            "attribute[grid]": w.grid,
            "description": "路灯不亮",
            "phone": "13900000000",
            "first_name": "Li",
            "address_string": "光明大道 88 号",
            "media_url": "https://img.example/1.jpg",
            "jurisdiction_id": "gm",
        },
    )
    assert r.status_code == 201, r.text
    [row] = r.json()
    assert set(row) == {"service_request_id", "token", "service_notice", "account_id"}
    case = w.rt.book.get(row["service_request_id"])
    assert (case.source, case.reporter, case.community_code, case.grid_code) == (
        "citizen",
        "13900000000",
        w.community,
        w.grid,
    )
    assert case.building == "光明大道 88 号" and case.media == ["https://img.example/1.jpg"]
    token = http.get(f"{V2}/tokens/{row['token']}.json").json()
    assert token == [{"service_request_id": case.case_no, "token": row["token"]}]
    one = http.get(f"{V2}/requests/{case.case_no}.json").json()[0]
    assert set(one) == REQUEST_FIELDS
    assert one["status"] == "open" and one["service_code"] == w.item.code
    assert one["description"] == "路灯不亮" and one["address"] == "光明大道 88 号"
    assert one["media_url"] == "https://img.example/1.jpg" and one["address_id"] == w.grid
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert ISO_OFFSET.match(one[key]), (key, one[key])
    assert one["expected_datetime"] > one["requested_datetime"]
    assert "13900000000" not in http.get(f"{V2}/requests/{case.case_no}.xml").text
    xml = ET.fromstring(http.get(f"{V2}/requests/{case.case_no}.xml").content)
    assert xml.tag == "service_requests"
    assert xml.findtext("request/service_request_id") == case.case_no
    assert {c.tag for c in xml.find("request")} == REQUEST_FIELDS  # type: ignore[union-attr]


def test_post_is_idempotent_with_a_key_and_answers_xml(http: httpx.Client, world: World) -> None:
    w = world
    first = post(http, w, "xml", _key="app-req-1", **{"attribute[community]": w.community})
    assert first.status_code == 201, first.text
    doc = ET.fromstring(first.content)
    assert doc.tag == "service_requests"
    no = doc.findtext("request/service_request_id")
    again = post(http, w, "xml", _key="app-req-1", **{"attribute[community]": w.community})
    assert again.status_code == 200
    assert ET.fromstring(again.content).findtext("request/service_request_id") == no
    assert w.counts()[0] == 1


def test_coordinates_go_to_the_nearest_grid_by_the_documented_rule(
    http: httpx.Client, world: World
) -> None:
    w = world
    locator = Locator(w.rt.catalog)
    code = sorted(locator.centres)[17]
    lat, lon = locator.centres[code]
    assert locator.nearest_grid(lat + 0.0001, lon - 0.0001) == code
    r = post(http, w, lat=str(lat), long=str(lon))
    assert r.status_code == 201, r.text
    case = w.rt.book.get(r.json()[0]["service_request_id"])
    assert case.grid_code == code and case.lat == lat and case.lon == lon
    assert case.community_code == w.rt.catalog.territory[code].parent
    south, west, north, east = BBOX
    for outside in ((north + 0.01, west), (south - 0.01, east), (south, east + 0.01)):
        with pytest.raises(InvalidInput):
            locator.nearest_grid(*outside)


POST_ERRORS: list[tuple[dict[str, str], int, str]] = [
    ({"api_key": ""}, 403, "API key"),
    ({"api_key": "gg_00000000_" + "A" * 43}, 403, "not valid"),
    ({"service_code": "NO-SUCH-1", "attribute[grid]": "x"}, 400, "service_code"),
    ({"lat": "95", "long": "114"}, 400, "lat"),
    ({"lat": "22.75"}, 400, "long"),
    ({"lat": "north", "long": "114"}, 400, "lat"),
    ({"lat": "40.0", "long": "116.4"}, 400, "outside"),
    ({"address_string": "光明大道"}, 400, "location"),
    ({"attribute[grid]": "GM-NOWHERE"}, 400, "grid"),
    ({"attribute[community]": "GM-NOWHERE"}, 400, "community"),
    ({"attribute[grid]": "G", "description": "x" * 4001}, 400, "description"),
]


def test_post_errors_use_the_spec_format_and_store_nothing(
    http: httpx.Client, world: World
) -> None:
    w = world
    before = w.counts()
    for fields, status, says in POST_ERRORS:
        if fields.get("attribute[grid]") == "G":
            fields = {**fields, "attribute[grid]": w.grid}
        for fmt in ("json", "xml"):
            r = post(http, w, fmt, **fields)
            assert r.status_code == status, (fields, r.text)
            if fmt == "json":
                [err] = r.json()
                assert err["code"] == status and says in err["description"], (fields, err)
            else:
                doc = ET.fromstring(r.content)
                assert doc.tag == "errors" and doc.findtext("error/code") == str(status)
    assert w.counts() == before


def test_json_body_is_refused_and_form_in_query_is_accepted(
    http: httpx.Client, world: World
) -> None:
    w = world
    as_json = http.post(
        f"{V2}/requests.json",
        json={"api_key": w.keys["citizen"], "service_code": w.item.code},
    )
    assert as_json.status_code == 415 and as_json.json()[0]["code"] == 415
    in_query = http.post(
        f"{V2}/requests.json",
        params={
            "api_key": w.keys["citizen"],
            "service_code": w.item.code,
            "attribute[grid]": w.grid,
        },
    )
    assert in_query.status_code == 201, in_query.text


def test_get_requests_filters(http: httpx.Client, world: World) -> None:
    w = world
    nos = []
    for n in range(3):
        r = post(http, w, **{"attribute[grid]": w.grid, "description": f"n{n}"})
        nos.append(r.json()[0]["service_request_id"])
    # A patrol case is internal: never listed on Open311.
    internal = http.post(
        "/v1/cases", json=w.new_case(source="patrol"), headers=w.auth("dispatcher")
    ).json()["case"]["case_no"]
    w.rt.book.act(nos[0], *_cancel(w))
    listed = http.get(f"{V2}/requests.json").json()
    assert {r["service_request_id"] for r in listed} == set(nos)
    some = http.get(
        f"{V2}/requests.json", params={"service_request_id": f"{nos[1]},{internal},{nos[2]}"}
    ).json()
    assert [r["service_request_id"] for r in some] == [nos[2], nos[1]]
    closed = http.get(f"{V2}/requests.json", params={"status": "closed"}).json()
    assert [r["service_request_id"] for r in closed] == [nos[0]]
    assert closed[0]["status"] == "closed"
    open_ = http.get(f"{V2}/requests.json", params={"status": "open"}).json()
    assert {r["service_request_id"] for r in open_} == {nos[1], nos[2]}
    assert http.get(f"{V2}/requests.json", params={"service_code": "OTHER-1"}).json() == []
    now = clock.now()
    window = {
        "start_date": (now - timedelta(days=1)).isoformat(),
        "end_date": (now + timedelta(days=1)).isoformat(),
    }
    assert len(http.get(f"{V2}/requests.json", params=window).json()) == 3
    too_long = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    r = http.get(f"{V2}/requests.xml", params=too_long)
    assert r.status_code == 400 and ET.fromstring(r.content).findtext("error/code") == "400"
    bad = http.get(f"{V2}/requests.json", params={"start_date": "yesterday"})
    assert bad.status_code == 400 and "start_date" in bad.json()[0]["description"]
    assert http.get(f"{V2}/requests.json", params={"status": "pending"}).status_code == 400
    assert http.get(f"{V2}/requests/{internal}.json").status_code == 404
    assert http.get(f"{V2}/tokens/nothing.here.json").status_code == 404
    assert http.get(f"{V2}/requests.yaml").status_code == 400


def _cancel(w: World) -> tuple[Any, Any, Any, str, dict[str, str]]:
    from gridgov.domain.enums import Role
    from gridgov.domain.lifecycle import Actor, EventKind

    return (
        EventKind.CANCELLED,
        Actor(Role.DISPATCHER, "dispatcher-1"),
        clock.now(),
        "cancel-1",
        {"reason": "duplicate"},
    )


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_third_party_georeport_client_unchanged(
    live: str, http: httpx.Client, world: World, fmt: str
) -> None:
    w = world
    r = post(http, w, **{"attribute[grid]": w.grid, "description": "third party"})
    no = r.json()[0]["service_request_id"]
    client = GeoReport(f"{live}{V2}", jurisdiction="gm", output_format=fmt)
    services = client.get_service_list()
    assert w.item.code in {s["service_code"] for s in services}
    definition = client.get_service_definition(w.item.code)
    assert definition["service_code"] == w.item.code
    requests_ = client.get_service_requests(service_request_id=no)
    one = requests_ if isinstance(requests_, dict) else requests_[0]  # xmltodict: 1 row → dict
    assert one["service_request_id"] == no and one["status"] == "open"
    single = client.get_service_request(no)
    assert single["description"] == "third party"
    with w.rt.book.factory() as s:
        assert s.query(CaseEvent).filter(CaseEvent.kind == "created").count() == 1
