"""Plain, detached snapshots of ledger rows (safe to return from tasks and APIs)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from gridgov.ledger.models import Case, CaseEvent


@dataclass(frozen=True)
class CaseRecord:
    id: int
    case_no: str
    item_code: str
    item_version: int
    item_name: str
    tier: int
    category: str
    status: str
    source: str
    reporter: str
    street_code: str
    community_code: str
    grid_code: str | None
    lead_department: str
    assignee: str
    assisting: list[str]
    opened_at: datetime
    acknowledge_due: datetime | None
    arrive_due: datetime | None
    handle_due: datetime | None
    review_due: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    clock_kind: str | None
    clock_due: datetime | None
    next_sweep_at: datetime | None
    supervision_level: str | None
    overdue: bool
    rework_count: int
    return_count: int
    extension_count: int
    extension_pending: bool
    spot_check: bool | None
    rating: str | None
    description: str = ""
    building: str | None = None
    lat: float | None = None
    lon: float | None = None
    media: list[str] = field(default_factory=list)
    flow_run_id: str | None = None
    provisional_years: str | None = None  # deadline reaches years without holiday data
    attributes: dict[str, Any] | None = None  # an imported source's unmapped columns
    source_channel: str | None = None

    @classmethod
    def of(cls, row: Case) -> CaseRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class EventRecord:
    seq: int
    kind: str
    actor: str
    role: str
    department: str | None
    community: str | None
    at: datetime
    from_status: str | None
    to_status: str
    payload: dict[str, Any]
    idempotency_key: str

    @classmethod
    def of(cls, row: CaseEvent) -> EventRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class ActResult:
    """The outcome of one command: the case after it, the event written, and whether the
    command was a replay of an earlier one with the same idempotency key (nothing written)."""

    case: CaseRecord
    event: EventRecord
    replayed: bool
