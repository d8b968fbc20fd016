"""The board as people read it: markdown for Prefect artifacts, rows for the page and CLI.

Names, not codes (item, holder, community in Chinese); times in the ledger's zone with the
zone written out; lateness in the clock's own kind of hours. See docs/boards.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gridgov.boards.labels import (
    CLOCK_ZH,
    NO_LIMIT_ZH,
    holder_zh,
    level_zh,
    local,
    place_zh,
    span_zh,
    waits_zh,
    zone_label,
)
from gridgov.boards.query import BoardEntry, BoardSnapshot
from gridgov.item_catalog.loader import Catalog

EMPTY_ZH = "当前没有超期或临期案件。"
COLUMNS_ZH = (
    "案件编号",
    "事项",
    "承办单位",
    "社区",
    "督办等级",
    "超期",
    "当前环节",
    "时限",
    "最新流程",
)


@dataclass(frozen=True, slots=True)
class BoardLine:
    """One row, worded: what the page, the CLI and the artifact show."""

    case_no: str
    item: str
    holder: str
    holder_code: str
    community: str
    community_code: str
    level: str  # 提醒 / 督办 / 升级 / 已到期未督办
    level_code: str
    late: str  # 2.5 工作小时, or 未超期
    waits: str  # 待部门签收 …
    due: str  # 处置时限 2026-11-23 17:00 (local, no zone: the header names it)
    overdue: bool


def line(e: BoardEntry, catalog: Catalog, tz: ZoneInfo) -> BoardLine:
    clock = CLOCK_ZH.get(e.clock_kind or "", e.clock_kind or "")
    return BoardLine(
        case_no=e.case_no,
        item=e.item_name,
        holder=holder_zh(catalog, e.assignee),
        holder_code=e.assignee,
        community=place_zh(catalog, e.community_code),
        community_code=e.community_code,
        level=level_zh(e.supervision_level),
        level_code=e.level,
        late=span_zh(e.late_hours, working=e.late_working) if e.late_hours > 0 else "未超期",
        waits=waits_zh(e.waiting),
        due=(
            f"{clock}时限 {local(e.clock_due, tz, zone=False)}"
            if e.clock_due is not None
            else f"{clock}{NO_LIMIT_ZH}"
        ),
        overdue=e.overdue or e.late_hours > 0,
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    title: str,
    snap: BoardSnapshot,
    catalog: Catalog,
    tz: ZoneInfo,
    *,
    links: Mapping[str, str] | None = None,
    footer: str = "",
) -> str:
    """A board artifact: counts by level, then one row per case, most urgent first."""
    links = links or {}
    counts = " · ".join(
        f"{level_zh(k if k != 'due' else None)} **{snap.counts.get(k, 0)}**"
        for k in ("escalated", "supervised", "reminded", "due")
    )
    head = (
        f"# {title}\n\n"
        f"截至 **{local(snap.as_of, tz)}** 共 **{snap.total}** 件超期或临期案件:{counts}\n\n"
        f"时间均为 {zone_label(tz, snap.as_of)}。\n\n"
    )
    if not snap.entries:
        return head + EMPTY_ZH + "\n" + footer
    table = "| " + " | ".join(COLUMNS_ZH) + " |\n|" + "---|" * len(COLUMNS_ZH) + "\n"
    for e in snap.entries:
        ln = line(e, catalog, tz)
        url = links.get(e.case_no)
        run = f"[查看]({url})" if url else "—"
        table += (
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    ln.case_no,
                    ln.item,
                    ln.holder,
                    ln.community,
                    ln.level,
                    ln.late,
                    ln.waits,
                    ln.due,
                )
            )
            + f" | {run} |\n"
        )
    more = snap.total - len(snap.entries)
    tail = (
        f"\n另有 {more} 件未列出(按到期时间排序,仅列最紧急的 {len(snap.entries)} 件)。\n"
        if more > 0
        else ""
    )
    return head + table + tail + footer


def text_lines(snap: BoardSnapshot, catalog: Catalog, tz: ZoneInfo) -> list[BoardLine]:
    return [line(e, catalog, tz) for e in snap.entries]
