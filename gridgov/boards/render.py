"""The board as people read it: markdown for Prefect artifacts, rows for the page and CLI.

Names, not codes (item, holder, community in Chinese); times in the ledger's zone with the
zone written out; lateness in the clock's own kind of hours. See docs/boards.md.
"""

from __future__ import annotations

from collections.abc import Callable
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
# The headings of BoardLine.cells, in the same order: every view of a row (artifact table,
# page, CLI, the board run's log) shows these eight.
LINE_COLUMNS_ZH = (
    "案件编号",
    "事项",
    "承办单位",
    "社区",
    "督办等级",
    "超期",
    "当前环节",
    "时限",
)
COLUMNS_ZH = (*LINE_COLUMNS_ZH, "流程记录")  # the artifact adds a link to the case's runs


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

    @property
    def cells(self) -> tuple[str, ...]:
        """What a row shows, in the order of ``LINE_COLUMNS_ZH``."""
        return (
            self.case_no,
            self.item,
            self.holder,
            self.community,
            self.level,
            self.late,
            self.waits,
            self.due,
        )


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


@dataclass(frozen=True, slots=True)
class BoardMarkdown:
    """A board artifact in two parts: ``head`` says when it was read (changes every sweep),
    ``body`` is what the board says. A board whose newest version already contains ``body``
    says the truth still and is not rewritten."""

    head: str
    body: str

    @property
    def text(self) -> str:
        return self.head + self.body


def markdown(
    title: str,
    snap: BoardSnapshot,
    catalog: Catalog,
    tz: ZoneInfo,
    *,
    links: Callable[[str], str | None] | None = None,
    note: str = "",
) -> BoardMarkdown:
    """A board artifact: counts by level, then one row per case, most urgent first.
    ``links(case_no)`` gives the link of a row; ``note`` ends the body (the holiday warning)."""
    counts = " · ".join(
        f"{level_zh(k if k != 'due' else None)} **{snap.counts.get(k, 0)}**"
        for k in ("escalated", "supervised", "reminded", "due")
    )
    head = f"# {title}\n\n截至 **{local(snap.as_of, tz)}**(每次督办巡查后内容有变化才更新)\n\n"
    top = (
        f"共 **{snap.total}** 件超期或临期案件:{counts}\n\n"
        f"时间均为 {zone_label(tz, snap.as_of)}。\n\n"
    )
    if not snap.entries:
        return BoardMarkdown(head, top + EMPTY_ZH + "\n" + note)
    table = "| " + " | ".join(COLUMNS_ZH) + " |\n|" + "---|" * len(COLUMNS_ZH) + "\n"
    for e in snap.entries:
        ln = line(e, catalog, tz)
        url = links(e.case_no) if links else None
        run = f"[查看]({url})" if url else "—"
        table += "| " + " | ".join(_cell(c) for c in ln.cells) + f" | {run} |\n"
    more = snap.total - len(snap.entries)
    tail = (
        f"\n另有 {more} 件未列出(按到期时间排序,仅列最紧急的 {len(snap.entries)} 件)。\n"
        if more > 0
        else ""
    )
    return BoardMarkdown(head, top + table + tail + note)


def text_lines(snap: BoardSnapshot, catalog: Catalog, tz: ZoneInfo) -> list[BoardLine]:
    return [line(e, catalog, tz) for e in snap.entries]


def index_line(title: str, snap: BoardSnapshot, url: str | None) -> str:
    """One board in the board run's log: its counts, then its newest version's address (last,
    so the UI's log view makes it a link)."""
    counts = " · ".join(
        f"{level_zh(k if k != 'due' else None)} {snap.counts[k]}"
        for k in ("escalated", "supervised", "reminded", "due")
        if snap.counts.get(k)
    )
    text = f"{title}:共 {snap.total} 件" + (f"({counts})" if counts else "")
    return f"{text} → {url}" if url else text
