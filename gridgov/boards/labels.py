"""Words and times a district supervisor reads: Chinese names, Beijing time with its zone.

Pure functions over codes and datetimes (no Prefect, no SQL): the board artifacts, the
``/board`` page, ``gridgov board`` and the trail artifact all call these, so a level or a
place is worded the same everywhere. See docs/boards.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gridgov.domain.routing import WaitingFor
from gridgov.item_catalog.loader import Catalog

# The supervision ladder's steps as a supervisor says them.
LEVEL_ZH: dict[str, str] = {
    "reminded": "提醒",  # reminder before the deadline: at risk
    "supervised": "督办",  # formal supervision notice at the deadline
    "escalated": "升级",  # escalated to leadership past the deadline
}
DUE_ZH = "已到期未督办"  # past due, the sweep has not fired yet

WAITS_ZH: dict[str, str] = {
    WaitingFor.DISPATCH.value: "待分拨",
    WaitingFor.DEPARTMENT.value: "待部门签收",
    WaitingFor.COMMUNITY.value: "待社区签收",
    WaitingFor.ARRIVAL.value: "待到场",
    WaitingFor.COMPLETION.value: "处置中",
    WaitingFor.REROUTE.value: "退单待改派",
    WaitingFor.EXTENSION.value: "延期待审批",
    WaitingFor.REVIEW.value: "待复核",
    WaitingFor.REWORK.value: "返工中",
    WaitingFor.RATING.value: "待回访评价",
    WaitingFor.FIX.value: "待现场纠正",
    WaitingFor.OVERDUE.value: "已超期",
    WaitingFor.CLOSED.value: "已结案",
    WaitingFor.CANCELLED.value: "已作废",
}

CLOCK_ZH: dict[str, str] = {
    "acknowledge": "签收",
    "arrive": "到场",
    "handle": "处置",
    "review": "复核",
}
# A limit the item does not have (catalogue ``none``) or an imported case came without.
NO_LIMIT_ZH = "无时限"

COMMUNITY_TEAM_ZH = "社区/网格团队"


def level_zh(level: str | None) -> str:
    return LEVEL_ZH.get(level or "", DUE_ZH)


def waits_zh(waiting: str) -> str:
    return WAITS_ZH.get(waiting, waiting)


def holder_zh(catalog: Catalog, code: str) -> str:
    """The department's Chinese name (``COMMUNITY``: the case's community team)."""
    if code == "COMMUNITY":
        return COMMUNITY_TEAM_ZH
    dept = catalog.departments.get(code)
    return dept.name_zh if dept is not None else code


def place_zh(catalog: Catalog, code: str) -> str:
    unit = catalog.territory.get(code)
    return unit.name_zh if unit is not None else code


def zone_label(tz: ZoneInfo, at: datetime) -> str:
    """``北京时间 UTC+8`` for Asia/Shanghai, else the zone's name and offset."""
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    hours = offset.total_seconds() / 3600
    utc = f"UTC{hours:+g}"
    return (
        f"北京时间 {utc}"
        if tz.key in ("Asia/Shanghai", "Asia/Chongqing", "PRC")
        else f"{tz.key} {utc}"
    )


def local(at: datetime | None, tz: ZoneInfo, *, zone: bool = True) -> str:
    """``2026-11-23 17:04 北京时间 UTC+8`` (``zone=False``: without the zone)."""
    if at is None:
        return "—"
    moment = at.astimezone(tz)
    text = f"{moment:%Y-%m-%d %H:%M}"
    return f"{text} {zone_label(tz, moment)}" if zone else text


def span_zh(hours: float, *, working: bool) -> str:
    """How long past due: ``2.5 工作小时`` / ``1 天 3.0 小时``."""
    if working:
        return f"{hours:.1f} 工作小时"
    days, rest = divmod(hours, 24)
    return f"{int(days)} 天 {rest:.1f} 小时" if days else f"{rest:.1f} 小时"


def holiday_note_zh(missing_years: Sequence[int], provisional_cases: int) -> str | None:
    """The board's warning when deadlines were counted without a year's holiday data
    (``None`` when there is nothing to warn about)."""
    parts = []
    if missing_years:
        years = "、".join(f"{y} 年" for y in missing_years)
        parts.append(f"尚未录入 {years}的法定节假日安排")
    if provisional_cases:
        parts.append(f"{provisional_cases} 件案件的时限为临时计算(暂按周一至周五)")
    if not parts:
        return None
    return ";".join(parts) + "。请管理员录入节假日数据后执行 gridgov calendar recount 重算时限。"


_KEY_BAD = re.compile(r"[^a-z0-9-]+")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes only."""
    return _KEY_BAD.sub("-", "-".join(parts).lower()).strip("-")


DISTRICT_KEY = artifact_key("board", "district")


def dept_key(code: str) -> str:
    return artifact_key("board", "dept", code)


def community_key(code: str) -> str:
    return artifact_key("board", "community", code)
