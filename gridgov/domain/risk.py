"""Risk grading of rental housing (出租屋分级分类管理). Pure rules.

**Rental buildings** (出租楼栋) — 放心 reassured / 一般 ordinary / 警示 warning — from structural
safety, fire safety, public-order events, work-safety hazards and tenant registration:

| finding | points |
|---|---|
| structure with defects (a C-grade appraisal) | 3 |
| structure dangerous (D grade) | **warning** (veto) |
| fire safety: minor hazards / serious hazard | 2 / **warning** |
| public-order events in the last 12 months: 1–2 / 3–4 / ≥ 5 | 2 / 4 / **warning** |
| open work-safety hazards | 1 each, at most 3 |
| tenants registered: < 90 % / < 70 % | 1 / 2 |

Warning at a veto or ≥ 6 points; ordinary at 2–5; reassured at 0–1.

**Rental units** (出租屋) — 宽管 green / 严管 yellow / 禁止 red — from hardware, owner
compliance, fire safety, hazards and hygiene:

| finding | points |
|---|---|
| no smoke alarm / no extinguisher / no working door access | 2 / 1 / 1 |
| contract not filed / tenants not registered | 1 / 2 |
| e-bike charged indoors / flying leads (飞线) / LPG cylinder | 3 / 2 / 2 |
| poor hygiene | 1 |
| escape route blocked, live-work premises (三合一), structural damage | **red** (veto) |

Red at a veto or ≥ 8 points; yellow at 2–7; green at 0–1.

Every new inspection regrades the subject from that inspection alone (a fixed hazard lifts
the grade at once; a new one lowers it). The grade sets the patrol interval; a patrol due
becomes a task for the grid (``gridgov.intake.risk``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BuildingGrade(StrEnum):
    REASSURED = "reassured"  # 放心
    ORDINARY = "ordinary"  # 一般
    WARNING = "warning"  # 警示


class UnitGrade(StrEnum):
    GREEN = "green"  # 宽管
    YELLOW = "yellow"  # 严管
    RED = "red"  # 禁止


PATROL_EVERY: dict[str, timedelta] = {
    BuildingGrade.REASSURED: timedelta(days=30),
    BuildingGrade.ORDINARY: timedelta(days=14),
    BuildingGrade.WARNING: timedelta(days=7),
    UnitGrade.GREEN: timedelta(days=30),
    UnitGrade.YELLOW: timedelta(days=7),
    UnitGrade.RED: timedelta(days=1),  # daily until rectified
}
# Safest first: a move to a later grade is "riskier".
ORDER: dict[str, int] = {
    BuildingGrade.REASSURED: 0,
    BuildingGrade.ORDINARY: 1,
    BuildingGrade.WARNING: 2,
    UnitGrade.GREEN: 0,
    UnitGrade.YELLOW: 1,
    UnitGrade.RED: 2,
}


class _Findings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuildingFindings(_Findings):
    structure: Literal["safe", "defects", "dangerous"] = "safe"
    fire: Literal["compliant", "minor", "serious"] = "compliant"
    public_order_events: int = Field(default=0, ge=0, le=1000)  # last 12 months
    work_safety_hazards: int = Field(default=0, ge=0, le=1000)
    registered_share: float = Field(default=1.0, ge=0, le=1)


class UnitFindings(_Findings):
    smoke_alarm: bool = True
    extinguisher: bool = True
    door_access: bool = True
    contract_filed: bool = True
    tenants_registered: bool = True
    ebike_indoor_charging: bool = False
    flying_leads: bool = False
    gas_cylinder: bool = False
    hygiene: Literal["good", "poor"] = "good"
    escape_route_blocked: bool = False
    live_work: bool = False
    structural_damage: bool = False


@dataclass(frozen=True, slots=True)
class Graded:
    grade: str
    points: int
    reasons: tuple[str, ...]
    veto: bool


def grade_building(f: BuildingFindings) -> Graded:
    points, reasons, veto = 0, [], []
    if f.structure == "defects":
        points += 3
        reasons.append("structure: defects (+3)")
    elif f.structure == "dangerous":
        veto.append("structure: dangerous (veto)")
    if f.fire == "minor":
        points += 2
        reasons.append("fire: minor hazards (+2)")
    elif f.fire == "serious":
        veto.append("fire: serious hazard (veto)")
    if f.public_order_events >= 5:
        veto.append(f"public order: {f.public_order_events} events (veto)")
    elif f.public_order_events:
        add = 2 if f.public_order_events <= 2 else 4
        points += add
        reasons.append(f"public order: {f.public_order_events} events (+{add})")
    if f.work_safety_hazards:
        add = min(f.work_safety_hazards, 3)
        points += add
        reasons.append(f"work safety: {f.work_safety_hazards} hazards (+{add})")
    if f.registered_share < 0.9:
        add = 2 if f.registered_share < 0.7 else 1
        points += add
        reasons.append(f"registration: {f.registered_share:.0%} (+{add})")
    if veto or points >= 6:
        grade = BuildingGrade.WARNING
    elif points >= 2:
        grade = BuildingGrade.ORDINARY
    else:
        grade = BuildingGrade.REASSURED
    return Graded(grade.value, points, tuple(veto + reasons), bool(veto))


UNIT_POINTS: tuple[tuple[str, bool, int, str], ...] = (
    # (field, value that costs points, points, reason)
    ("smoke_alarm", False, 2, "no smoke alarm"),
    ("extinguisher", False, 1, "no extinguisher"),
    ("door_access", False, 1, "door access broken"),
    ("contract_filed", False, 1, "contract not filed"),
    ("tenants_registered", False, 2, "tenants not registered"),
    ("ebike_indoor_charging", True, 3, "e-bike charged indoors"),
    ("flying_leads", True, 2, "flying leads"),
    ("gas_cylinder", True, 2, "LPG cylinder"),
)
UNIT_VETO = (
    ("escape_route_blocked", "escape route blocked"),
    ("live_work", "live-work premises (三合一)"),
    ("structural_damage", "structural damage"),
)


def grade_unit(f: UnitFindings) -> Graded:
    points, reasons = 0, []
    for name, bad, add, why in UNIT_POINTS:
        if getattr(f, name) is bad:
            points += add
            reasons.append(f"{why} (+{add})")
    if f.hygiene == "poor":
        points += 1
        reasons.append("poor hygiene (+1)")
    veto = [f"{why} (veto)" for name, why in UNIT_VETO if getattr(f, name)]
    if veto or points >= 8:
        grade = UnitGrade.RED
    elif points >= 2:
        grade = UnitGrade.YELLOW
    else:
        grade = UnitGrade.GREEN
    return Graded(grade.value, points, tuple(veto + reasons), bool(veto))


def next_patrol(grade: str, inspected_at: datetime) -> datetime:
    return inspected_at + PATROL_EVERY[grade]


def direction(before: str | None, after: str) -> str:
    """first | riskier | safer | same."""
    if before is None:
        return "first"
    if ORDER[after] == ORDER[before]:
        return "same"
    return "riskier" if ORDER[after] > ORDER[before] else "safer"
