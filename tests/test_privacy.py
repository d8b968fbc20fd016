"""The public Open311 feed protects people (issue 14): personal information masked, keyed
readers see the original on /v1, coordinates rounded by a setting, only http(s) media."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from gridgov.api.app import create_app
from gridgov.api.throttle import Throttle
from gridgov.domain.privacy import coarse, mask_personal, public_url
from tests.api_support import World, app, http, live, world

__all__ = ["app", "http", "live", "world"]  # fixtures

V2 = "/open311/v2"


@pytest.mark.parametrize(
    ("text", "shown", "hidden"),
    [
        ("call me 13912345678 please", "139****5678", "13912345678"),
        ("电话 139-1234-5678 谢谢", "139****5678", "1234"),
        ("+86 138 0013 8000", "138****8000", "0013"),
        ("身份证 44030319900101123X", "[身份证号]", "19900101"),
        ("旧证 440303900101123", "[身份证号]", "900101"),
        ("车牌粤B12345 停在门口", "粤B*****", "12345"),
        ("车牌 京A·D1234 占道", "京A*****", "D1234"),
        ("mail zhang.san@example.com", "z***@example.com", "zhang.san"),
        ("座机 0755-12345678", "0755-****78", "12345678"),
    ],
)
def test_personal_information_is_masked(text: str, shown: str, hidden: str) -> None:
    masked = mask_personal(text)
    assert shown in masked and hidden not in masked, masked


def test_ordinary_text_is_left_alone() -> None:
    for text in ("路灯不亮 lamp out at 光明大道 88 号", "2026-11-23 9:30", "case C20261123-000123"):
        assert mask_personal(text) == text


def test_coordinates_and_links() -> None:
    assert coarse(22.7654321, 3) == 22.765 and coarse(22.7654321, None) == 22.7654321
    assert coarse(None, 3) is None
    assert public_url("https://img.example/1.jpg") == "https://img.example/1.jpg"
    for bad in ("javascript:alert(document.cookie)", "data:text/html,x", "file:///etc/passwd"):
        assert public_url(bad) is None


def test_the_public_feed_masks_and_keyed_readers_see_the_original(
    http: httpx.Client, world: World
) -> None:
    w = world
    text = "路灯坏了 call me 13912345678, 车牌粤B12345"
    form = {
        "api_key": w.keys["citizen"],
        "service_code": w.item.code,
        "attribute[grid]": w.grid,
        "description": text,
        "lat": "22.7654321",
        "long": "113.9012345",
        "media_url": "https://img.example/1.jpg",
    }
    r = http.post(f"{V2}/requests.json", data=form)
    assert r.status_code == 201, r.text
    no = r.json()[0]["service_request_id"]
    public = http.get(f"{V2}/requests/{no}.json").json()[0]
    assert "13912345678" not in public["description"] and "139****5678" in public["description"]
    assert "粤B12345" not in public["description"]
    assert (public["lat"], public["long"]) == (22.765, 113.901)  # default: 3 decimals
    listed = http.get(f"{V2}/requests.xml").text
    assert "13912345678" not in listed and "22.7654321" not in listed
    keyed = http.get(f"/v1/cases/{no}", headers=w.auth("citizen")).json()
    assert keyed["description"] == text and keyed["lat"] == 22.7654321
    bad = http.post(f"{V2}/requests.json", data=form | {"media_url": "javascript:alert(1)"})
    assert bad.status_code == 400 and bad.json()[0]["description"].startswith("media_url")


def test_the_rounding_is_a_setting(http: httpx.Client, world: World) -> None:
    w = world
    form = {
        "api_key": w.keys["citizen"],
        "service_code": w.item.code,
        "description": "井盖坏了",
        "lat": "22.7654321",
        "long": "113.9012345",
    }
    r = http.post(f"{V2}/requests.json", data=form)
    assert r.status_code == 201, r.text
    no = r.json()[0]["service_request_id"]
    w.rt.settings.public_coordinate_decimals = None
    try:
        exact = http.get(f"{V2}/requests/{no}.json").json()[0]
    finally:
        w.rt.settings.public_coordinate_decimals = 3
    assert (exact["lat"], exact["long"]) == (22.7654321, 113.9012345)


def test_the_throttle_refills_at_its_rate() -> None:
    t = Throttle.per(60)  # one a second, bursts of 30
    assert [t.take("a", 0.0) for _ in range(30)] == [0.0] * 30
    assert t.take("a", 0.0) == pytest.approx(1.0)
    assert t.take("b", 0.0) == 0.0  # per address
    assert t.take("a", 1.0) == 0.0
    assert Throttle.per(0).take("a", 0.0) == 0.0  # off


def test_public_reads_are_rate_limited_per_client(world: World) -> None:
    w = world
    w.rt.settings.public_reads_per_minute = 4  # bursts of 2
    try:
        gateway = create_app(w.rt, "none", key_ttl=0)
    finally:
        w.rt.settings.public_reads_per_minute = 120
    with TestClient(gateway) as client:
        answers = [client.get(f"{V2}/requests.json") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        assert int(answers[2].headers["Retry-After"]) >= 1
        assert answers[2].json()[0]["code"] == 429
        keyed = client.get("/v1/cases", headers=w.auth("dispatcher"))
        assert keyed.status_code == 200  # keyed reads are not limited
