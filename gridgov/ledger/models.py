"""The ledger: the governance record (cases + append-only case_events), SQLAlchemy 2 models.

Prefect's database holds orchestration state only; it can be pruned without losing a case.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.ledger.base import Base as Base  # re-exported: where migrations look


class Department(Base):
    __tablename__ = "departments"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))


class TerritoryUnit(Base):
    __tablename__ = "territory"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("territory.code"))


class CatalogItem(Base):
    """One version of a catalogue item, as loaded; versions are immutable once stored."""

    __tablename__ = "catalog_items"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    name_zh: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int] = mapped_column(Integer)
    lead_department: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    content_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    loaded_at: Mapped[datetime]


class LedgerSetting(Base):
    """Facts about the ledger itself, e.g. the zone its days and months are counted in."""

    __tablename__ = "ledger_settings"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime]


class CaseCounter(Base):
    """Per-day sequence behind case numbers like ``C20261123-000123``."""

    __tablename__ = "case_counters"
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["item_code", "item_version"], ["catalog_items.code", "catalog_items.version"]
        ),
        # No index on next_sweep_at: the sweep reads ``timers`` (ix_timers_due).
        Index("ix_cases_assignee_status", "assignee", "status"),
        Index("ix_cases_community_status", "community_code", "status"),
        Index("ix_cases_opened_at", "opened_at"),
        Index("ix_cases_handle_due", "handle_due"),
        Index("ix_cases_dedupe_key_opened_at", "dedupe_key", "opened_at"),
        Index("ix_cases_provisional_years", "provisional_years"),
        UniqueConstraint("source_system", "source_id", name="uq_cases_source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(20), unique=True)
    item_code: Mapped[str] = mapped_column(String(32))
    item_version: Mapped[int] = mapped_column(Integer)
    item_name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)
    source: Mapped[str] = mapped_column(String(16))
    reporter: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[str]] = mapped_column(default=list)
    street_code: Mapped[str] = mapped_column(ForeignKey("territory.code"))
    community_code: Mapped[str] = mapped_column(ForeignKey("territory.code"))
    grid_code: Mapped[str | None] = mapped_column(ForeignKey("territory.code"))
    building: Mapped[str | None] = mapped_column(String(120))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    lead_department: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    assisting: Mapped[list[str]] = mapped_column(default=list)
    assignee: Mapped[str] = mapped_column(ForeignKey("departments.code"))

    opened_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    acknowledge_due: Mapped[datetime | None]
    arrive_due: Mapped[datetime | None]
    handle_due: Mapped[datetime | None]
    review_due: Mapped[datetime | None]

    # The clock the case currently runs against, and where it stands on the ladder.
    clock_kind: Mapped[str | None] = mapped_column(String(16))
    clock_start: Mapped[datetime | None]
    clock_due: Mapped[datetime | None]
    clock_unit: Mapped[str | None] = mapped_column(String(16))
    ladder_done: Mapped[int] = mapped_column(Integer, default=0)
    next_sweep_at: Mapped[datetime | None]
    supervision_level: Mapped[str | None] = mapped_column(String(16))
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_since: Mapped[datetime | None]

    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    spot_check: Mapped[bool | None] = mapped_column(Boolean)
    rating: Mapped[str | None] = mapped_column(String(24))
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)

    # Machine-found events repeat: one case per (source, item, place, time window).
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    # "catalog": deadlines computed from the item; "source": kept from an imported system.
    deadline_source: Mapped[str] = mapped_column(
        String(16), default="catalog", server_default="catalog"
    )
    # Years a running deadline reaches that had no holiday data when it was computed (e.g.
    # "2027"): the deadline is provisional until `gridgov calendar recount` (docs/calendar.md).
    provisional_years: Mapped[str | None] = mapped_column(String(32))
    # An imported history's columns with no field of ours (closure reason, queue, sub-type,
    # address, photo links …), kept as they came; and its own channel value beside ``source``.
    attributes: Mapped[dict[str, Any] | None] = mapped_column()
    source_channel: Mapped[str | None] = mapped_column(String(64))
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    source_system: Mapped[str | None] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(128))
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012


class CaseEvent(Base):
    """Append-only trail of a case. Rows are inserted, never updated or deleted."""

    __tablename__ = "case_events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),
        Index("ix_case_events_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32))
    community: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)


class Timer(Base):
    """督办 timer: when the next supervision-ladder step of a case's running limit falls due
    (docs/ledger.md). One row per case while a step is ahead; the sweep reads the due ones
    through ``ix_timers_due`` and rewrites these narrow rows, so the wide, many-indexed
    ``cases`` row is written only when what a reader sees of the case changes (e.g. the
    overdue flag at 督办). The issue's ``clock`` column is ``limit_kind`` here (STYLE rule 4:
    a case's running limit is its limit; ``clock`` is injectable time)."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "due"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    limit_kind: Mapped[str] = mapped_column(String(16))  # acknowledge | arrive | handle | review
    step: Mapped[int] = mapped_column(Integer)  # ladder steps already taken on this limit
    due: Mapped[datetime]  # when ladder step number ``step`` falls due


class Notification(Base):
    """Outbox: a notification is recorded here before it is sent, then marked sent."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(120))
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # A deliverer's lease: claimed rows are skipped by others until it expires (issue 12).
    claimed_until: Mapped[datetime | None]


class ApiKey(Base):
    """Gateway keys, stored hashed; each bound to one role and unit."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    department: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    community: Mapped[str | None] = mapped_column(ForeignKey("territory.code"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OwedRun(Base):
    """A flow run the ledger owes a case: written in the same transaction as the answer (or
    report) that needs it, settled by the run that did the step. The sweep's reconciler
    starts any left unsettled past ``GRIDGOV_OWED_RUN_GRACE`` (docs/operations.md)."""

    __tablename__ = "owed_runs"
    __table_args__ = (Index("ix_owed_runs_open", "settled_at", "owed_since"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # the owing event's key
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))  # "report" or the answer's kind
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the Answer, as JSON
    at: Mapped[datetime]  # the answer's moment (the run's ``at``)
    owed_since: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None]
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    settled_at: Mapped[datetime | None]


class JobHold(Base):
    """One row per recurring job: who holds it now (a lease, so a killed holder's hold
    expires) and when it last completed — sweeps never overlap and /readyz reads their age."""

    __tablename__ = "job_holds"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    held_until: Mapped[datetime | None]
    last_completed_at: Mapped[datetime | None]
    last_period: Mapped[str | None] = mapped_column(String(16))  # monthly: last month assessed
