"""Plain, detached snapshots of ledger rows (safe to return from tasks and APIs)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gridgov.ledger.models import Case, CaseEvent


class CaseView(BaseModel):
    """A case as the ledger shows it to anyone outside (times in UTC): the one home of the
    case's public shape. The gateway's ``CaseOut`` (api/schemas.py) derives from it, adding
    only what is computed from these fields; :class:`CaseRecord` adds the internal ones.
    Fields in the order the API's JSON lists them."""

    model_config = ConfigDict(from_attributes=True, frozen=True)
    case_no: str
    item_code: str
    item_version: int
    item_name: str
    tier: int
    category: str
    status: str
    source: str
    reporter: str
    description: str
    street_code: str
    community_code: str
    grid_code: str | None
    building: str | None
    lat: float | None
    lon: float | None
    media: list[str]
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
    rating: str | None
    provisional_years: str | None = Field(
        default=None,
        description="Years without holiday data that a deadline reaches (e.g. '2027'): the "
        "deadline is provisional until the data is added and deadlines are recounted",
    )

    attributes: dict[str, str] | None = Field(
        default=None, description="an imported history's columns with no field of ours"
    )
    source_channel: str | None = Field(
        default=None, description="the source system's own channel value"
    )


class CaseRecord(CaseView):
    """A detached snapshot of a ``cases`` row: :class:`CaseView` and the fields only the
    ledger's own code reads."""

    id: int
    spot_check: bool | None
    flow_run_id: str | None = None

    @classmethod
    def of(cls, row: Case) -> CaseRecord:
        # The row's values as they are, as the ORM typed them: built per command, so not
        # validated again (model_construct; CaseOut validates what it shows).
        return cls.model_construct(**{name: getattr(row, name) for name in _RECORD_FIELDS})


_RECORD_FIELDS = tuple(CaseRecord.model_fields)


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
