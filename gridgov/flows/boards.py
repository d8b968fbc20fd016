"""The ``board-督办看板`` flow: every sweep's boards, and the index a supervisor opens first.

A subflow of ``supervise``. Its name sorts first on the Prefect UI's *Flows* page (A→Z), whose
*Last run* column links its newest run: so *Flows → Last run* (two clicks from the sidebar)
opens a run whose log (the run page's default tab) lists every board in Chinese — counts by
ladder level and a link to the board's newest version — and the district's most urgent
cases. Its Artifacts tab holds the boards written by that sweep. See docs/boards.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed

from gridgov.boards.labels import local
from gridgov.boards.publish import artifact_url, publish_boards, read_all
from gridgov.boards.render import index_line, text_lines
from gridgov.runtime import default_runtime

BOARD_FLOW = "board-督办看板"  # "board-" sorts before every other flow name of ours
URGENT = 10  # the district's most urgent cases, listed in the log itself


def _board_run_name() -> str:
    moment = flow_run.parameters.get("now")
    return f"督办看板 @ {moment:%Y-%m-%d %H:%M}" if isinstance(moment, datetime) else "督办看板"


@flow(name=BOARD_FLOW, flow_run_name=_board_run_name)
async def board_views(now: datetime, sweep_run: str | None = None) -> State[Any]:
    """Read every board from the ledger (one query), write the ones whose content changed,
    and log the index of all of them, newest versions linked."""
    rt = default_runtime()
    boards = await asyncio.to_thread(read_all, rt, now)
    links = await publish_boards(rt, boards, sweep_run)
    log = get_run_logger()
    log.info(
        "督办看板 截至 %s:全区共 %d 件超期或临期案件。点击各行末尾的链接打开该看板的最新版本。",
        local(now, rt.calendar.tz),
        boards.district.total,
    )
    quiet = [b for b in links[1:] if b.snapshot.total == 0]
    for board in [links[0], *(b for b in links[1:] if b.snapshot.total)]:
        url = artifact_url(board.artifact_id) if board.artifact_id else None
        log.info("%s", index_line(board.title, board.snapshot, url))
    if quiet:
        log.info("其余 %d 块看板(部门或社区)当前没有超期或临期案件。", len(quiet))
    urgent = boards.district.entries[:URGENT]
    if urgent:
        log.info("全区最紧急的 %d 件:", len(urgent))
    for ln in text_lines(replace(boards.district, entries=urgent), rt.catalog, rt.calendar.tz):
        log.info("%s · %s · %s · %s · %s · 超期 %s · %s · %s", *ln.cells)
    written = sum(b.written for b in links)
    return Completed(
        message=f"{written} 块看板已更新,{len(links) - written} 块内容无变化未重写",
        data={"written": written, "kept": len(links) - written, "on_board": boards.district.total},
    )
