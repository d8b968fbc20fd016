"""Vocabulary shared by every layer: tiers, sources, time units, roles, case states."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Tier(IntEnum):
    """三级事项: who is expected to deal with an item."""

    FIELD_FIX = 1  # 一级 现场纠正: the patroller fixes it on the spot
    COMMUNITY = 2  # 二级: the community / grid team handles it
    DEPARTMENT = 3  # 三级: whistled to a functional department (吹哨派单)


class Family(StrEnum):
    """Catalogue families: 部件 components, 事件 events, social governance items."""

    COMPONENT = "component"  # 部件
    EVENT = "event"  # 事件
    SOCIAL = "social"  # 社会治理事项


class Source(StrEnum):
    """Who or what may report a case."""

    PATROL = "patrol"  # 网格员巡查
    CITIZEN = "citizen"  # 群众上报 (书记在线 QR code, app)
    AI_CAMERA = "ai_camera"  # AI 视频分析
    IOT_SENSOR = "iot_sensor"  # 物联感知
    HOTLINE = "hotline"  # 12345 热线


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"  # 紧急


class TimeUnit(StrEnum):
    """Deadline units. Natural time runs around the clock; working time only in office hours."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WORKING_HOURS = "working_hours"  # 工作时
    WORKING_DAYS = "working_days"  # 工作日

    @property
    def is_working(self) -> bool:
        return self in (TimeUnit.WORKING_HOURS, TimeUnit.WORKING_DAYS)


class Role(StrEnum):
    """Who acts on a case. Departments and communities act only on their own cases."""

    PATROLLER = "patroller"  # 网格员
    CITIZEN = "citizen"
    DISPATCHER = "dispatcher"  # 指挥分拨中心
    COMMUNITY = "community"  # 社区 / 网格团队
    DEPARTMENT = "department"  # 职能部门
    REVIEWER = "reviewer"  # 复核
    SUPERVISOR = "supervisor"  # 督办
    AUDITOR = "auditor"
    MACHINE = "machine"  # 感知平台: an AI-camera / IoT platform posting event batches
    SYSTEM = "system"


# Roles a gateway key may have (``system`` is the ledger's own actor, never a key's).
KEY_ROLES = frozenset(Role) - {Role.SYSTEM}


class CaseStatus(StrEnum):
    REPORTED = "reported"  # 上报
    DISPATCHED = "dispatched"  # 分拨 (waiting for acknowledgement)
    ACKNOWLEDGED = "acknowledged"  # 签收
    RETURNED = "returned"  # 退单 (waiting for the dispatcher)
    IN_PROGRESS = "in_progress"  # 到场处置中
    HANDLED = "handled"  # 处置完成 (waiting for review)
    UNDER_REVIEW = "under_review"  # 复核中
    REWORK = "rework"  # 返工
    EVALUATING = "evaluating"  # 回访评价 (waiting for the citizen's rating)
    CLOSED = "closed"  # 结案
    CANCELLED = "cancelled"  # 作废

    @property
    def is_open(self) -> bool:
        return self not in (CaseStatus.CLOSED, CaseStatus.CANCELLED)


OPEN_STATUSES: frozenset[CaseStatus] = frozenset(s for s in CaseStatus if s.is_open)


class DeadlineKind(StrEnum):
    """The clocks a case runs against."""

    ACKNOWLEDGE = "acknowledge"  # 签收时限
    ARRIVE = "arrive"  # 到场时限 (tier 3)
    HANDLE = "handle"  # 处置时限
    REVIEW = "review"  # 复核时限
    CALLBACK = "callback"  # 回访时限 (evaluating: the citizen's satisfaction callback)


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


class TerritoryKind(StrEnum):
    DISTRICT = "district"  # 区
    STREET = "street"  # 街道
    COMMUNITY = "community"  # 社区
    GRID = "grid"  # 网格


class LaunchMode(StrEnum):
    """How the gateway starts a case's flow after recording it (GRIDGOV_LAUNCH_MODE)."""

    AUTO = "auto"  # deployment when a Prefect API is configured, else record only
    DEPLOYMENT = "deployment"  # a run of the item's deployment, picked up by a worker
    INLINE = "inline"  # the flow runs in the gateway's process
    NONE = "none"  # record only; the sweep's reconciler starts the owed runs
