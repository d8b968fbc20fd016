"""A case's trail as a Prefect markdown artifact (``case-<number>``), in Chinese and local time.

Written after every step a flow run takes, and by the sweep for the cases it moved up the
ladder (bounded per sweep: see ``publish``), so the artifact shows the ladder steps too.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.actions import ArtifactCreate

from gridgov.boards.labels import (
    NO_LIMIT_ZH,
    artifact_key,
    holder_zh,
    local,
    place_zh,
    waits_zh,
    zone_label,
)
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.records import CaseRecord, EventRecord

EVENT_ZH: dict[str, str] = {
    "created": "上报",
    "dispatched": "分拨派单",
    "acknowledged": "签收",
    "returned": "退单",
    "rerouted": "改派",
    "return_refused": "退单驳回",
    "arrived": "到场",
    "assisted": "协办",
    "extension_requested": "申请延期",
    "extension_granted": "延期批准",
    "extension_refused": "延期驳回",
    "handled": "处置完成",
    "review_started": "开始复核",
    "review_passed": "复核通过",
    "review_failed": "复核不通过",
    "rated": "回访评价",
    "reopened": "重新办理",
    "closed": "结案",
    "cancelled": "作废",
    "reminded": "提醒",
    "supervised": "督办",
    "escalated": "升级",
    "notified": "通知",
}


def trail_key(case_no: str) -> str:
    return artifact_key("case", case_no)


def trail_markdown(
    case: CaseRecord, trail: list[EventRecord], waiting: str, catalog: Catalog, tz: ZoneInfo
) -> str:
    flag = " · **已超期**" if case.overdue else ""
    level = {"reminded": "提醒", "supervised": "督办", "escalated": "升级"}.get(
        case.supervision_level or "", ""
    )
    head = (
        f"# {case.case_no} · {case.item_name}\n\n"
        f"**{waits_zh(waiting)}**{flag}{' · 督办等级 **' + level + '**' if level else ''} — "
        f"承办单位 {holder_zh(catalog, case.assignee)}({case.assignee}),"
        f"社区 {place_zh(catalog, case.community_code)},{case.tier} 级事项\n\n"
        f"处置时限 {local(case.handle_due, tz) if case.handle_due else NO_LIMIT_ZH} · "
        f"返工 {case.rework_count} 次 · "
        f"退单 {case.return_count} 次 · 延期 {case.extension_count} 次\n\n"
        + (
            f"**时限为临时计算**:{case.provisional_years} 年的节假日安排尚未录入"
            "(暂按周一至周五计算,录入后重算)\n\n"
            if case.provisional_years
            else ""
        )
        + f"| # | 时间({zone_label(tz, case.opened_at)}) | 环节 | 操作人 | 单位 | 之后状态 |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {e.seq} | {local(e.at, tz, zone=False)} | {EVENT_ZH.get(e.kind, e.kind)} | "
        f"{e.actor} | {e.department or e.community or ''} | {e.to_status} |\n"
        for e in trail
    )
    return head + rows


def trail_artifact(
    case: CaseRecord, trail: list[EventRecord], waiting: str, catalog: Catalog, tz: ZoneInfo
) -> ArtifactCreate:
    """The trail as the server takes it (the sweep writes many on one client)."""
    return ArtifactCreate(
        key=trail_key(case.case_no),
        type="markdown",
        data=trail_markdown(case, trail, waiting, catalog, tz),
        description=f"{case.case_no} {case.item_name} 办理轨迹",
    )


async def publish_trail(
    case: CaseRecord, trail: list[EventRecord], waiting: str, catalog: Catalog, tz: ZoneInfo
) -> None:
    """One key per case, a new version per step (from the step's own run)."""
    made = trail_artifact(case, trail, waiting, catalog, tz)
    await acreate_markdown_artifact(
        key=made.key, markdown=str(made.data), description=made.description
    )
