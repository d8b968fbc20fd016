"""Ledger tables of intake and risk grading (migration 0003).

* ``intake_events``: every machine-found event received (AI camera, IoT sensor), pointing at
  the case it opened or was merged into; its (source, event_id) makes re-ingesting a no-op.
* ``citizen_requests``: every citizen request and how it was classified; the unsure ones wait
  here (``queued``) for the dispatcher. ``citizen_clock_breaches``: the 10 min / 30 min /
  24 h / callback promises that were missed, one row per case (or queued request) and stage.
* ``rental_buildings`` / ``rental_units``: the current risk grade and when the next patrol is
  due; ``risk_inspections`` the records graded; ``risk_grade_changes`` every regrading;
  ``patrol_tasks`` the patrols due, as tasks for the grid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.ledger.base import Base


class IntakeEvent(Base):
    __tablename__ = "intake_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_intake_events_source_event"),
        Index("ix_intake_events_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # ai_camera | iot_sensor
    event_id: Mapped[str] = mapped_column(String(128))  # the sender's id, or a content hash
    device: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    received_at: Mapped[datetime]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    repeat: Mapped[bool]  # False: this event opened the case
    confidence: Mapped[float | None] = mapped_column(Float)


class CitizenRequest(Base):
    __tablename__ = "citizen_requests"
    __table_args__ = (
        UniqueConstraint("channel", "request_id", name="uq_citizen_requests_channel_request"),
        Index("ix_citizen_requests_status_received", "status", "received_at"),
        Index("ix_citizen_requests_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # qr | app | hotline
    request_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime]
    reporter: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    community_code: Mapped[str] = mapped_column(ForeignKey("territory.code"))
    grid_code: Mapped[str | None] = mapped_column(ForeignKey("territory.code"))
    building: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16))  # opened | queued | assigned | rejected
    item_code: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    margin: Mapped[float] = mapped_column(Float)
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)  # top (code, score)s
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None]


class CitizenClockBreach(Base):
    __tablename__ = "citizen_clock_breaches"
    __table_args__ = (
        UniqueConstraint("case_id", "stage", name="uq_citizen_clock_breaches_case_stage"),
        UniqueConstraint("request_id", "stage", name="uq_citizen_clock_breaches_request_stage"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("citizen_requests.id"))
    stage: Mapped[str] = mapped_column(String(16))  # notice | appointment | done | callback
    due_at: Mapped[datetime]
    detected_at: Mapped[datetime]


class RentalBuilding(Base):
    __tablename__ = "rental_buildings"
    __table_args__ = (Index("ix_rental_buildings_next_patrol_at", "next_patrol_at"),)

    code: Mapped[str] = mapped_column(String(80), primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("territory.code"))
    grid_code: Mapped[str] = mapped_column(ForeignKey("territory.code"))
    address: Mapped[str] = mapped_column(String(200))
    grade: Mapped[str] = mapped_column(String(16))  # reassured | ordinary | warning
    points: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[str]] = mapped_column(default=list)
    graded_at: Mapped[datetime]
    next_patrol_at: Mapped[datetime]


class RentalUnit(Base):
    __tablename__ = "rental_units"
    __table_args__ = (
        Index("ix_rental_units_next_patrol_at", "next_patrol_at"),
        Index("ix_rental_units_building_code", "building_code"),
    )

    code: Mapped[str] = mapped_column(String(80), primary_key=True)
    building_code: Mapped[str] = mapped_column(ForeignKey("rental_buildings.code"))
    grade: Mapped[str] = mapped_column(String(16))  # green | yellow | red
    points: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[str]] = mapped_column(default=list)
    graded_at: Mapped[datetime]
    next_patrol_at: Mapped[datetime]


class RiskInspection(Base):
    __tablename__ = "risk_inspections"
    __table_args__ = (
        Index("ix_risk_inspections_subject", "subject_kind", "subject_code", "inspected_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[str] = mapped_column(String(128), unique=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # building | unit
    subject_code: Mapped[str] = mapped_column(String(80))
    inspected_at: Mapped[datetime]
    inspector: Mapped[str] = mapped_column(String(120))
    findings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    grade: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime]


class RiskGradeChange(Base):
    __tablename__ = "risk_grade_changes"
    __table_args__ = (Index("ix_risk_grade_changes_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_code: Mapped[str] = mapped_column(String(80))
    from_grade: Mapped[str | None] = mapped_column(String(16))
    to_grade: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))  # first | riskier | safer
    at: Mapped[datetime]
    inspection_id: Mapped[int] = mapped_column(ForeignKey("risk_inspections.id"))


class PatrolTask(Base):
    __tablename__ = "patrol_tasks"
    __table_args__ = (
        UniqueConstraint(
            "subject_kind", "subject_code", "due_at", name="uq_patrol_tasks_subject_due"
        ),
        Index("ix_patrol_tasks_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_code: Mapped[str] = mapped_column(String(80))
    grade: Mapped[str] = mapped_column(String(16))
    community_code: Mapped[str] = mapped_column(ForeignKey("territory.code"))
    grid_code: Mapped[str] = mapped_column(ForeignKey("territory.code"))
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # open | done
    done_at: Mapped[datetime | None]
