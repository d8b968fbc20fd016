"""``/board``: the 督办 board as a plain Chinese web page, for people who do not use Prefect.

Server-rendered (no script), Beijing time with the zone, filters by department, community
and ladder level, refreshed every 60 s by the browser. A login form takes a key (supervisor,
auditor, dispatcher, department or community) and keeps it in an ``HttpOnly``,
``SameSite=Strict`` cookie (``Secure`` over HTTPS) that only ``/board`` reads — the ``/v1``
API never accepts it, so the cookie cannot be used to write anything. What the page shows is
what the key may see (``api.access.visible_clause``). See docs/boards.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gridgov import clock
from gridgov.api.access import visible_clause
from gridgov.api.deps import GatewayDep
from gridgov.api.keystore import Principal
from gridgov.boards.labels import LEVEL_ZH, holder_zh, local, place_zh, zone_label
from gridgov.boards.query import LEVELS, filter_clauses, holiday_note, read_board
from gridgov.boards.render import LINE_COLUMNS_ZH, text_lines
from gridgov.domain.enums import Role, TerritoryKind

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
COOKIE = "gg_board"
BOARD_ROLES = frozenset(
    {Role.SUPERVISOR, Role.AUDITOR, Role.DISPATCHER, Role.DEPARTMENT, Role.COMMUNITY}
)
REFRESH_SECONDS = 60
ROWS = 300
Filter = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9-]*$")]


def _who(gw: GatewayDep, request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    p = gw.verifier.verify(token.strip())
    return p if p is not None and p.role in BOARD_ROLES else None


def _login(request: Request, error: str | None = None, status: int = 200) -> Response:
    return templates.TemplateResponse(
        request, "board_login.html", {"error": error}, status_code=status
    )


@router.get("/board", response_class=HTMLResponse)
def board_page(
    request: Request,
    gw: GatewayDep,
    dept: Filter = None,
    community: Filter = None,
    level: Filter = None,
) -> Response:
    who = _who(gw, request)
    if who is None:
        return _login(request)
    rt = gw.rt
    cat, tz = rt.catalog, rt.calendar.tz
    now = clock.now()
    where = [visible_clause(who), *filter_clauses(dept, community)]
    lvl = level if level in LEVELS else None
    with rt.book.factory() as s:
        snap = read_board(s, rt.calendar, now, where=tuple(where), level=lvl, limit=ROWS)
        everything = read_board(s, rt.calendar, now, where=(visible_clause(who),), limit=1)
    depts = sorted(everything.by_assignee) if who.role != Role.DEPARTMENT else [who.department]
    comms = sorted(everything.by_community)
    scope = {
        Role.DEPARTMENT: f"部门:{holder_zh(cat, who.department or '')}",
        Role.COMMUNITY: f"社区:{place_zh(cat, who.scope or '')}",
    }.get(who.role, f"范围:{place_zh(cat, who.scope)}" if who.scope else "范围:全区")
    return templates.TemplateResponse(
        request,
        "board.html",
        {
            "who": who,
            "scope": scope,
            "now": local(now, tz),
            "zone": zone_label(tz, now),
            "snap": snap,
            "columns": LINE_COLUMNS_ZH,
            "lines": text_lines(snap, cat, tz),
            "levels": [(k, LEVEL_ZH.get(k, "已到期未督办")) for k in LEVELS],
            "counts": [(LEVEL_ZH.get(k, "已到期未督办"), snap.counts.get(k, 0)) for k in LEVELS],
            "depts": [(d, holder_zh(cat, d or "")) for d in depts],
            "comms": [(c, place_zh(cat, c)) for c in comms],
            "sel": {"dept": dept or "", "community": community or "", "level": lvl or ""},
            "refresh": REFRESH_SECONDS,
            "communities_known": len(cat.units(TerritoryKind.COMMUNITY)),
            "holiday": holiday_note(rt.book, now),
        },
    )


@router.post("/board/login")
async def board_login(request: Request, gw: GatewayDep) -> Response:
    body = (await request.body())[:4096].decode("utf-8", "replace")
    key = dict(parse_qsl(body, max_num_fields=5)).get("key", "").strip()
    p = gw.verifier.verify(key) if key and len(key) <= 200 else None
    if p is None:
        return _login(request, "密钥无效或已停用,请核对后重新输入。", 401)
    if p.role not in BOARD_ROLES:
        return _login(request, "该密钥无权查看督办看板(需督办、审计、分拨、部门或社区密钥)。", 403)
    out = RedirectResponse("/board", status_code=303)
    out.set_cookie(
        COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/board",
        max_age=12 * 3600,
    )
    return out


@router.post("/board/logout")
def board_logout() -> Response:
    out = RedirectResponse("/board", status_code=303)
    out.delete_cookie(COOKIE, path="/board")
    return out
