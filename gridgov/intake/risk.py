"""Inspection records → risk grades, patrol schedules and patrol tasks, in the ledger.

Rows (JSON Lines or CSV, one inspection each): ``inspection_id``, ``kind`` (building | unit),
``building``, ``unit`` (for units), ``community``, ``grid``, ``address`` (buildings),
``inspected_at``, ``inspector``, and the findings of ``gridgov.domain.risk`` as further
fields. Each row is graded by the domain rules; a newer inspection regrades its subject and
resets its next patrol (grade → interval), an older one is only recorded; every change of
grade is kept. A building that becomes 警示 gets a rectification case (SH-CZ-005, when the
catalogue has it) for the housing department. Re-importing a file changes nothing
(``inspection_id`` is unique). Patrols that fall due become ``patrol_tasks`` for the grid
(``issue_patrol_tasks``); the next inspection of the subject closes its open tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from gridgov.domain.enums import Role, Source
from gridgov.domain.errors import GridgovError, UnknownItem
from gridgov.domain.lifecycle import Actor
from gridgov.domain.risk import (
    BuildingFindings,
    BuildingGrade,
    Graded,
    UnitFindings,
    direction,
    grade_building,
    grade_unit,
    next_patrol,
)
from gridgov.intake.machine import RowError
from gridgov.intake.places import Place, check_place
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.risk_models import (
    PatrolTask,
    RentalBuilding,
    RentalUnit,
    RiskGradeChange,
    RiskInspection,
)

RECTIFY_ITEM = "SH-CZ-005"  # 警示级出租楼栋整改
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[\w\-./]+$")]
META = {"inspection_id", "kind", "building", "unit", "community", "grid", "address"}
META |= {"inspected_at", "inspector"}


class InspectionRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    inspection_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    kind: Literal["building", "unit"]
    building: Code
    unit: Code | None = None
    community: str | None = None
    grid: str | None = None
    address: Text | None = None
    inspected_at: AwareDatetime
    inspector: Text


@dataclass
class RiskReport:
    rows: int = 0
    recorded: int = 0
    already: int = 0
    changes: Counter[str] = field(default_factory=Counter)  # first | riskier | safer
    errors: list[RowError] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)  # rectification cases opened


def _split(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = {k: v for k, v in raw.items() if k in META}
    findings = raw.get("findings")
    if isinstance(findings, dict):
        return meta, findings
    return meta, {k: v for k, v in raw.items() if k not in META and k != "findings"}


def _findings(kind: str, data: dict[str, Any]) -> BuildingFindings | UnitFindings:
    # CSV cells arrive as text: let pydantic coerce "true"/"0.85"/"3".
    model = BuildingFindings if kind == "building" else UnitFindings
    return model.model_validate(data)


def _errors(line: int, exc: ValidationError, prefix: str = "") -> list[RowError]:
    return [
        RowError(line, prefix + (".".join(str(p) for p in e["loc"]) or "row"), e["msg"])
        for e in exc.errors()
    ]


def check_row(
    line: int, raw: dict[str, Any] | str
) -> tuple[InspectionRow, BuildingFindings | UnitFindings, Graded] | list[RowError]:
    if isinstance(raw, str):
        return [RowError(line, "row", raw)]
    meta, data = _split(raw)
    try:
        row = InspectionRow.model_validate(meta)
    except ValidationError as exc:
        return _errors(line, exc)
    if row.kind == "unit" and not row.unit:
        return [RowError(line, "unit", "a unit inspection names the unit")]
    try:
        findings = _findings(row.kind, data)
    except ValidationError as exc:
        return _errors(line, exc)
    graded = (
        grade_building(findings) if isinstance(findings, BuildingFindings) else grade_unit(findings)
    )
    return row, findings, graded


class RiskRegister:
    def __init__(self, book: CaseBook) -> None:
        self.book = book

    def record(
        self,
        rows: Iterable[tuple[int, dict[str, Any] | str]],
        *,
        open_cases: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> RiskReport:
        report = RiskReport()
        warnings: list[tuple[str, InspectionRow]] = []
        # Buildings before their units, whatever the file's order.
        ordered = sorted(
            rows, key=lambda r: not (isinstance(r[1], dict) and r[1].get("kind") == "building")
        )
        for line, raw in ordered:
            report.rows += 1
            if progress is not None:
                progress(1)
            checked = check_row(line, raw)
            if isinstance(checked, list):
                report.errors += checked
                continue
            try:
                with self.book.factory() as s, s.begin():
                    outcome = self._record(s, *checked)
            except GridgovError as exc:
                report.errors.append(RowError(line, exc.field or "row", exc.message))
                continue
            if outcome is None:
                report.already += 1
                continue
            report.recorded += 1
            if outcome != "same":
                report.changes[outcome] += 1
            row, _, graded = checked
            if (
                row.kind == "building"
                and graded.grade == BuildingGrade.WARNING
                and outcome in ("first", "riskier")
            ):
                warnings.append((row.building, row))
        if open_cases:
            report.cases += [self._rectify(code, row) for code, row in warnings]
            report.cases = [c for c in report.cases if c]
        return report

    def _record(
        self,
        s: Session,
        row: InspectionRow,
        findings: BuildingFindings | UnitFindings,
        graded: Graded,
    ) -> str | None:
        """Store one inspection; returns the grade move (None: already recorded)."""
        if s.scalar(
            select(RiskInspection.id).where(RiskInspection.inspection_id == row.inspection_id)
        ):
            return None
        now = datetime.now(UTC)
        at = row.inspected_at.astimezone(UTC)
        if row.kind == "unit" and s.get(RentalBuilding, row.building) is None:
            raise GridgovError(
                f"building {row.building} has not been inspected: grade the building first",
                field="building",
            )
        code = row.building if row.kind == "building" else str(row.unit)
        found: RentalBuilding | RentalUnit | None = (
            s.get(RentalBuilding, code) if row.kind == "building" else s.get(RentalUnit, code)
        )
        ins = RiskInspection(
            inspection_id=row.inspection_id,
            subject_kind=row.kind,
            subject_code=code,
            inspected_at=at,
            inspector=row.inspector,
            findings=findings.model_dump(mode="json"),
            grade=graded.grade,
            points=graded.points,
            recorded_at=now,
        )
        s.add(ins)
        s.flush()
        if found is not None and found.graded_at > at:
            return "same"  # an older inspection: recorded, but the newer grade stands
        before = found.grade if found is not None else None
        fields = {
            "grade": graded.grade,
            "points": graded.points,
            "reasons": list(graded.reasons),
            "graded_at": at,
            "next_patrol_at": next_patrol(graded.grade, at),
        }
        subject: RentalBuilding | RentalUnit
        if found is None:
            if row.kind == "building":
                place = self._place(row)
                subject = RentalBuilding(
                    code=code,
                    community_code=place.community,
                    grid_code=place.grid,
                    address=row.address or code,
                    **fields,
                )
            else:
                subject = RentalUnit(code=code, building_code=row.building, **fields)
            s.add(subject)
        else:
            for k, v in fields.items():
                setattr(found, k, v)
        move = direction(before, graded.grade)
        if move != "same":
            s.add(
                RiskGradeChange(
                    subject_kind=row.kind,
                    subject_code=code,
                    from_grade=before,
                    to_grade=graded.grade,
                    direction=move,
                    at=at,
                    inspection_id=ins.id,
                )
            )
        # The inspection is the patrol: open tasks due by now are done.
        s.execute(
            update(PatrolTask)
            .where(
                PatrolTask.subject_kind == row.kind,
                PatrolTask.subject_code == code,
                PatrolTask.status == "open",
                PatrolTask.due_at <= at,
            )
            .values(status="done", done_at=at)
        )
        return move

    def _place(self, row: InspectionRow) -> Place:
        if not row.community or not row.grid:
            raise GridgovError(
                f"building {row.building} is new: give its community and grid", field="grid"
            )
        return check_place(Place(row.community, row.grid), self.book.catalog.territory, "grid")

    def _rectify(self, code: str, row: InspectionRow) -> str:
        """A 警示 building gets a rectification case; '' when the item is not in force."""
        with self.book.factory() as s:
            b = s.get(RentalBuilding, code)
            assert b is not None
            place = (b.community_code, b.grid_code)
        new = {
            "item_code": RECTIFY_ITEM,
            "community": place[0],
            "grid": place[1],
            "building": code,
            "source": Source.PATROL.value,
            "reporter": row.inspector,
            "description": f"rental building graded 警示 by inspection {row.inspection_id}",
        }
        try:
            opened = self.book.open_case(
                new,
                Actor(Role.PATROLLER, row.inspector),
                row.inspected_at,
                f"risk:{code}:{row.inspection_id}",
            )
        except UnknownItem:
            return ""
        return opened.case.case_no

    def issue_patrol_tasks(self, now: datetime) -> int:
        """Patrols due by ``now`` become open tasks for their grid (once per due moment)."""
        made = 0
        with self.book.factory() as s, s.begin():
            due_b = s.execute(
                select(
                    RentalBuilding.code,
                    RentalBuilding.grade,
                    RentalBuilding.community_code,
                    RentalBuilding.grid_code,
                    RentalBuilding.next_patrol_at,
                ).where(RentalBuilding.next_patrol_at <= now)
            ).all()
            due_u = s.execute(
                select(
                    RentalUnit.code,
                    RentalUnit.grade,
                    RentalBuilding.community_code,
                    RentalBuilding.grid_code,
                    RentalUnit.next_patrol_at,
                )
                .join(RentalBuilding, RentalBuilding.code == RentalUnit.building_code)
                .where(RentalUnit.next_patrol_at <= now)
            ).all()
            for kind, rows in (("building", due_b), ("unit", due_u)):
                for code, grade, community, grid, due in rows:
                    exists = s.scalar(
                        select(PatrolTask.id).where(
                            PatrolTask.subject_kind == kind,
                            PatrolTask.subject_code == code,
                            PatrolTask.due_at == due,
                        )
                    )
                    if exists:
                        continue
                    s.add(
                        PatrolTask(
                            subject_kind=kind,
                            subject_code=code,
                            grade=grade,
                            community_code=community,
                            grid_code=grid,
                            due_at=due,
                            created_at=now,
                            status="open",
                        )
                    )
                    made += 1
        return made


def grade_counts(engine: Engine) -> dict[str, dict[str, int]]:
    with engine.connect() as conn:
        b: dict[str, int] = dict(
            conn.execute(select(RentalBuilding.grade, func.count()).group_by(RentalBuilding.grade))
            .tuples()
            .all()
        )
        u: dict[str, int] = dict(
            conn.execute(select(RentalUnit.grade, func.count()).group_by(RentalUnit.grade))
            .tuples()
            .all()
        )
    return {"building": b, "unit": u}
