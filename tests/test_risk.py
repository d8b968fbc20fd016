"""Risk grading of rental housing and the dispute warning levels: rules, ledger, calibration."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from gridgov.domain.disputes import ITEMS, TIERS, DisputeKind, Urgency, WarningLevel, assess
from gridgov.domain.enums import Source
from gridgov.domain.errors import InvalidInput
from gridgov.domain.risk import (
    PATROL_EVERY,
    BuildingFindings,
    UnitFindings,
    direction,
    grade_building,
    grade_unit,
)
from gridgov.intake.machine import Format, parse_text
from gridgov.intake.risk import RiskRegister, grade_counts
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.risk_models import PatrolTask, RentalBuilding, RiskGradeChange
from gridgov.runtime import Runtime
from gridgov.simulate.district import District
from gridgov.simulate.risk import building_findings, inspections, unit_findings
from tests.conftest import at

T0 = at(2026, 11, 23, 9, 0)
RISK_TABLES = "patrol_tasks, risk_grade_changes, rental_units, rental_buildings, risk_inspections"


@pytest.mark.parametrize(
    ("findings", "grade"),
    [
        ({}, "reassured"),
        ({"registered_share": 0.85}, "reassured"),  # 1 point
        ({"fire": "minor"}, "ordinary"),  # 2 points
        ({"structure": "defects", "public_order_events": 2}, "ordinary"),  # 5
        ({"structure": "defects", "fire": "minor", "registered_share": 0.8}, "warning"),  # 6
        ({"structure": "dangerous"}, "warning"),  # veto
        ({"public_order_events": 5}, "warning"),  # veto
        ({"work_safety_hazards": 9}, "ordinary"),  # capped at 3
    ],
)
def test_building_grades(findings: dict[str, Any], grade: str) -> None:
    assert grade_building(BuildingFindings(**findings)).grade == grade


@pytest.mark.parametrize(
    ("findings", "grade"),
    [
        ({}, "green"),
        ({"extinguisher": False}, "green"),  # 1 point
        ({"smoke_alarm": False}, "yellow"),  # 2
        (
            {"ebike_indoor_charging": True, "flying_leads": True, "gas_cylinder": True},
            "yellow",
        ),  # 7
        (
            {
                "ebike_indoor_charging": True,
                "flying_leads": True,
                "gas_cylinder": True,
                "hygiene": "poor",
            },
            "red",
        ),  # 8
        ({"live_work": True}, "red"),  # 三合一: veto
    ],
)
def test_unit_grades(findings: dict[str, Any], grade: str) -> None:
    graded = grade_unit(UnitFindings(**findings))
    assert graded.grade == grade
    assert graded.veto == ("live_work" in findings)


def test_grade_sets_patrol_interval_and_direction() -> None:
    assert PATROL_EVERY["warning"] < PATROL_EVERY["ordinary"] < PATROL_EVERY["reassured"]
    assert PATROL_EVERY["red"] < PATROL_EVERY["yellow"] < PATROL_EVERY["green"]
    assert direction(None, "green") == "first"
    assert direction("green", "red") == "riskier" and direction("warning", "ordinary") == "safer"


@pytest.mark.parametrize(
    ("people", "urgency", "amount", "level"),
    [
        (2, Urgency.NORMAL, 500, WarningLevel.GENERAL),
        (2, Urgency.PRESSING, 5_000, WarningLevel.GENERAL),  # total 1
        (6, Urgency.PRESSING, 0, WarningLevel.SERIOUS),  # total 2
        (2, Urgency.NORMAL, 150_000, WarningLevel.SERIOUS),  # a 2, total 2
        (40, Urgency.PRESSING, 0, WarningLevel.MAJOR),  # a 2, total 3
        (2, Urgency.URGENT, 0, WarningLevel.MAJOR),  # 激化: always major
    ],
)
def test_dispute_levels(people: int, urgency: Urgency, amount: float, level: WarningLevel) -> None:
    w = assess(DisputeKind.NEIGHBOUR, people, urgency, amount)
    assert w.level == level and w.tier == TIERS[level]


def test_dispute_levels_map_to_catalogue_items_with_tighter_clocks(catalog: Catalog) -> None:
    for (kind, level), code in ITEMS.items():
        item = catalog.item_on(code, date(2026, 11, 23))
        assert item.tier == TIERS[level], (kind, level)
        assert Source.CITIZEN in item.sources and Source.PATROL in item.sources
    major = catalog.latest_of(ITEMS[(DisputeKind.NEIGHBOUR, WarningLevel.MAJOR)])
    general = catalog.latest_of(ITEMS[(DisputeKind.NEIGHBOUR, WarningLevel.GENERAL)])
    assert major.priority.value == "urgent" and general.priority.value == "normal"
    # At least as many natural minutes as each unit (a working hour is never shorter).
    minutes = {"minutes": 1, "hours": 60, "working_hours": 60, "working_days": 420, "days": 1440}

    def span(spec: Any) -> float:
        return float(spec.amount * minutes[spec.unit.value])

    assert span(major.deadlines.acknowledge) < span(general.deadlines.acknowledge)
    with pytest.raises(InvalidInput) as bad:
        assess(DisputeKind.PROPERTY, 1, Urgency.NORMAL, 0)
    assert bad.value.field == "people"


def test_synthetic_inspections_grade_in_domain_shares() -> None:
    rng = random.Random(5)
    n = 20_000
    b = Counter(grade_building(BuildingFindings(**building_findings(rng))).grade for _ in range(n))
    u = Counter(grade_unit(UnitFindings(**unit_findings(rng))).grade for _ in range(n))
    # DOMAIN.md: 82.0 / 12.5 / 5.5 % of buildings; 49.6 / 49.0 / 1.4 % of units.
    assert abs(b["reassured"] / n - 0.820) < 0.02 and abs(b["warning"] / n - 0.055) < 0.01
    assert abs(u["green"] / n - 0.496) < 0.02 and abs(u["red"] / n - 0.014) < 0.005


@pytest.fixture
def register(runtime: Runtime) -> RiskRegister:
    if runtime.engine.dialect.name == "postgresql":  # the shared schema keeps other tables
        with runtime.engine.begin() as conn:
            conn.execute(text(f"truncate {RISK_TABLES} restart identity cascade"))
    return RiskRegister(runtime.book)


def _building(runtime: Runtime, iid: str, minutes: int, **findings: Any) -> dict[str, Any]:
    g = sorted(u for u in runtime.catalog.territory if runtime.catalog.territory[u].kind == "grid")[
        0
    ]
    return {
        "inspection_id": iid,
        "kind": "building",
        "building": "B-1",
        "community": runtime.catalog.territory[g].parent,
        "grid": g,
        "address": "1 Test Road",
        "inspected_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "inspector": "grid-worker-1",
        **findings,
    }


def test_register_grades_regrades_and_schedules_patrols(
    runtime: Runtime, register: RiskRegister
) -> None:
    first = register.record([(1, _building(runtime, "i1", 0, fire="serious"))])
    assert first.recorded == 1 and first.changes["first"] == 1
    assert len(first.cases) == 1  # 警示: a rectification case for the housing department
    case = runtime.book.get(first.cases[0])
    assert case.item_code == "SH-CZ-005" and case.building == "B-1"
    unit = {
        "inspection_id": "u1",
        "kind": "unit",
        "building": "B-1",
        "unit": "B-1-01",
        "inspected_at": T0.isoformat(),
        "inspector": "w",
        "findings": {"live_work": True},
    }
    again = register.record([(1, _building(runtime, "i1", 0, fire="serious")), (2, unit)])
    assert again.already == 1 and again.recorded == 1 and not again.cases
    # Tasks when the patrol falls due, once; the next inspection closes them.
    assert register.issue_patrol_tasks(T0 + timedelta(days=8)) == 2  # building + red unit
    assert register.issue_patrol_tasks(T0 + timedelta(days=8)) == 0
    fixed = register.record([(1, _building(runtime, "i2", 60 * 24 * 9))])
    assert fixed.changes["safer"] == 1
    older = register.record([(1, _building(runtime, "i0", -60, fire="serious"))])
    assert older.recorded == 1 and not older.changes  # an older record does not regrade
    with runtime.book.factory() as s:
        b = s.get(RentalBuilding, "B-1")
        assert b is not None and b.grade == "reassured"
        assert b.next_patrol_at == (T0 + timedelta(days=9 + 30))
        moves = list(s.scalars(select(RiskGradeChange.direction).order_by(RiskGradeChange.id)))
        assert moves == ["first", "first", "safer"]
        tasks = {(t.subject_kind, t.status) for t in s.scalars(select(PatrolTask))}
        assert tasks == {("building", "done"), ("unit", "open")}
    assert grade_counts(runtime.engine) == {"building": {"reassured": 1}, "unit": {"red": 1}}


def test_bad_inspection_rows_name_line_and_field(runtime: Runtime, register: RiskRegister) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        ["inspection_id", "kind", "building", "unit", "inspected_at", "inspector", "smoke_alarm"],
    )
    writer.writeheader()
    writer.writerow(
        {
            "inspection_id": "x1",
            "kind": "unit",
            "building": "B-9",
            "unit": "B-9-1",
            "inspected_at": T0.isoformat(),
            "inspector": "w",
            "smoke_alarm": "false",
        }
    )
    writer.writerow(
        {
            "inspection_id": "x2",
            "kind": "unit",
            "building": "B-9",
            "unit": "B-9-2",
            "inspected_at": T0.isoformat(),
            "inspector": "w",
            "smoke_alarm": "perhaps",
        }
    )
    report = register.record(parse_text([out.getvalue()], Format.CSV))
    assert {(e.line, e.field) for e in report.errors} == {(2, "building"), (3, "smoke_alarm")}


def test_synthetic_file_round_trip(runtime: Runtime, register: RiskRegister) -> None:
    rows = list(inspections(District.of(runtime.catalog), random.Random(2), 6, 3, T0))
    report = register.record(enumerate(rows, 1), open_cases=False)
    assert report.recorded == 24 and not report.errors
    counts = grade_counts(runtime.engine)
    assert sum(counts["building"].values()) == 6 and sum(counts["unit"].values()) == 18


def test_a_reported_dispute_is_opened_at_its_level(runtime: Runtime) -> None:
    from gridgov.domain.enums import Role
    from gridgov.domain.lifecycle import Actor
    from gridgov.intake.disputes import dispute_case

    g = sorted(u for u in runtime.catalog.territory if runtime.catalog.territory[u].kind == "grid")[
        0
    ]
    community = runtime.catalog.territory[g].parent or ""
    opened = []
    for n, (people, urgency) in enumerate([(2, Urgency.NORMAL), (40, Urgency.PRESSING)]):
        new, warning = dispute_case(
            DisputeKind.PROPERTY, people, urgency, 0, community=community, grid=g, reporter="w"
        )
        case = runtime.book.open_case(new, Actor(Role.PATROLLER, "w"), T0, f"d{n}").case
        assert case.tier == int(warning.tier) and case.item_code == warning.item_code
        opened.append(case)
    assert opened[0].tier == 2 and opened[1].tier == 3
    assert opened[1].acknowledge_due is not None and opened[0].acknowledge_due is not None
    assert opened[1].acknowledge_due < opened[0].acknowledge_due  # level 3: 30 minutes
    assert "level 3" in runtime.book.get(opened[1].case_no).description
