"""The /board page on a live gateway (SQLite and PostgreSQL): login cookie, scope, filters."""

from __future__ import annotations

from datetime import timedelta

import httpx

from gridgov.ledger.supervision import sweep
from tests.api_support import World, app, http, live, world
from tests.test_api_cases import create

__all__ = ["app", "http", "live", "world"]  # fixtures


def login(http: httpx.Client, w: World, who: str) -> httpx.Response:
    return http.post(
        "/board/login",
        content=f"key={w.keys[who]}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_board_page_login_cookie_scope_and_filters(http: httpx.Client, world: World) -> None:
    w = world
    late = create(http, w, "citizen")
    w.dispatch(late)
    due = w.rt.book.get(late).clock_due
    assert due is not None
    sweep(w.rt.book, due + timedelta(minutes=1))

    first = http.get("/board")
    assert first.status_code == 200 and 'name="key"' in first.text and late not in first.text
    bad = http.post(
        "/board/login",
        content="key=gg_nothing_here",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad.status_code == 401 and "密钥无效" in bad.text and "set-cookie" not in bad.headers
    citizen = login(http, w, "citizen")
    assert citizen.status_code == 403 and "set-cookie" not in citizen.headers

    ok = login(http, w, "supervisor")
    assert ok.status_code == 303 and ok.headers["location"] == "/board"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/board" in cookie
    page = http.get("/board")
    assert page.status_code == 200
    text = page.text
    assert late in text and w.item.name_zh in text and "督办" in text
    assert "北京时间 UTC+8" in text and 'http-equiv="refresh" content="60"' in text
    assert w.rt.catalog.departments[w.lead].name_zh in text
    # Filters: another level, another community.
    assert late not in http.get("/board", params={"level": "escalated"}).text
    assert late in http.get("/board", params={"level": "supervised"}).text
    assert late not in http.get("/board", params={"community": w.other_community}).text
    # The cookie is for the page only: the API does not take it.
    assert http.get("/v1/board").status_code == 401

    http.cookies.clear()
    assert login(http, w, "other_dept").status_code == 303
    assert late not in http.get("/board").text  # not this department's case
    http.cookies.clear()
    assert login(http, w, "lead").status_code == 303
    assert late in http.get("/board").text
    out = http.post("/board/logout")
    assert out.status_code == 303
    assert 'name="key"' in http.get("/board").text
