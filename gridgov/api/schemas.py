"""Request and response bodies of the gateway (pure pydantic: the client imports them too).

Request bodies extend the domain's payload models, so the gateway checks exactly what the
case book checks (lengths, codes, enums) and the OpenAPI document shows those limits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    model_validator,
)

from gridgov.domain.commands import (
    ExtensionRequest,
    Handled,
    NewCase,
    NoPayload,
    Rated,
    Reroute,
    WithReason,
)
from gridgov.domain.enums import LaunchMode, TimeUnit
from gridgov.domain.text import CleanText
from gridgov.ledger.records import CaseRecord, CaseView, EventRecord

# Printable ASCII, no spaces: safe in headers, URLs and the ledger's 200-character key column.
IdemKey = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,128}$")]
KEY_FIELD = Field(
    default=None,
    description="Idempotency key (or the Idempotency-Key header): a repeat with the same key "
    "returns the first outcome and writes nothing.",
)


class FieldFix(CleanText):
    """A patroller's on-the-spot fix reported with the case (tier 1 items only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    evidence: tuple[Annotated[str, StringConstraints(min_length=1, max_length=500)], ...] = Field(
        min_length=1, max_length=20
    )
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class CaseIn(NewCase):
    """上报: a new case. ``community`` (and optionally ``grid``) place it in the territory."""

    idempotency_key: IdemKey | None = KEY_FIELD
    fix: FieldFix | None = Field(default=None, description="patroller keys: fixed on the spot")

    def new_case(self) -> dict[str, Any]:
        return self.model_dump(exclude={"idempotency_key", "fix"})


class AckIn(NoPayload):
    idempotency_key: IdemKey | None = KEY_FIELD


class ReasonIn(WithReason):
    idempotency_key: IdemKey | None = KEY_FIELD


class ExtensionIn(ExtensionRequest):
    idempotency_key: IdemKey | None = KEY_FIELD


class CompleteIn(Handled):
    idempotency_key: IdemKey | None = KEY_FIELD


class RerouteIn(Reroute):
    idempotency_key: IdemKey | None = KEY_FIELD


class RateIn(Rated):
    idempotency_key: IdemKey | None = KEY_FIELD


class GrantIn(CleanText):
    """Grant the pending extension as requested, or with another amount."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    amount: float | None = Field(default=None, gt=0, le=1000)
    unit: TimeUnit | None = None
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None
    idempotency_key: IdemKey | None = KEY_FIELD

    @model_validator(mode="after")
    def _both(self) -> Self:
        if (self.amount is None) != (self.unit is None):
            raise ValueError("give amount and unit together, or neither")
        return self


class CaseOut(CaseView):
    """A case as the ledger has it (times in UTC, ISO-8601)."""

    # Its fields are CaseView's (ledger/records.py), the one home of the case's shape.
    model_config = ConfigDict(from_attributes=True, frozen=False)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def deadline_provisional(self) -> bool:
        return self.provisional_years is not None

    @computed_field(  # type: ignore[prop-decorator]
        description="The case has no handling deadline (its item says `handle: none`, or an "
        "imported case came without one): it is never overdue and never supervised for it"
    )
    @property
    def no_deadline(self) -> bool:
        return self.handle_due is None

    @classmethod
    def of(cls, rec: CaseRecord) -> CaseOut:
        return cls.model_validate(rec)


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
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

    @classmethod
    def of(cls, rec: EventRecord) -> EventOut:
        return cls.model_validate(rec)


class RunOut(BaseModel):
    """What was started after recording: a scheduled deployment run, an in-process run, or
    nothing (launch mode ``none``)."""

    mode: LaunchMode
    flow_run_id: str | None = None
    state: str | None = None
    waits: str | None = Field(
        default=None, description="inline runs: where the case waits now (AwaitingReview…)"
    )
    pending: bool = Field(
        default=False,
        description="recorded, run pending: the step is in the ledger and its run is owed; "
        "the sweep's reconciler starts it (HTTP 202)",
    )
    detail: str | None = None

    @property
    def accepted_only(self) -> bool:
        """Answer 202: a start was wanted but not made (mode ``none`` never starts one)."""
        return self.pending and self.mode != "none"


class CaseCreated(BaseModel):
    case: CaseOut
    replayed: bool = Field(description="true: the key was seen before; nothing new was written")
    run: RunOut


class ActionOut(BaseModel):
    case: CaseOut
    event: EventOut
    replayed: bool
    run: RunOut


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: end")


class Trail(BaseModel):
    case_no: str
    events: list[EventOut]


class BoardRow(BaseModel):
    case_no: str
    item_code: str
    item_name: str
    tier: int
    status: str
    assignee: str
    community_code: str
    clock_kind: str | None
    clock_due: datetime | None
    supervision_level: str | None
    overdue: bool
    overdue_since: datetime | None
    next_sweep_at: datetime | None
    waiting: str = Field(description="where the case waits (AwaitingDepartment, …)")
    late_hours: float = Field(description="hours past the clock's due time (0: not yet)")
    late_working: bool = Field(description="late_hours counts office hours (工作小时)")


class Board(BaseModel):
    """督办 board: open cases on the supervision ladder (or past due), most urgent first."""

    as_of: datetime
    counts: dict[str, int] = Field(description="rows by ladder step (reminded/supervised/…)")
    by_assignee: dict[str, int]
    rows: list[BoardRow]


# ---------------------------------------------------------------------- intake
class RefusedRow(BaseModel):
    line: int = Field(description="1-based position in the batch (the line, for JSON Lines)")
    field: str
    message: str


class IntakeOut(BaseModel):
    """What a batch of machine-found events did. Refused rows wrote nothing; the rest did."""

    rows: int
    opened: int = Field(description="new cases")
    repeats: int = Field(description="events merged into an open case (repeat count)")
    already: int = Field(description="events ingested before (same source and event_id)")
    refused: list[RefusedRow]
    case_nos: list[str] = Field(description="the cases this batch opened")


class CitizenRequestOut(BaseModel):
    """书记在线 / 民意速办 request: opened (a case), queued (for the dispatcher), assigned
    (the dispatcher picked its item), or rejected (not a governance matter)."""

    id: int
    channel: str
    request_id: str
    status: Literal["opened", "queued", "assigned", "rejected"]
    item_code: str | None
    case_no: str | None
    candidates: list[dict[str, Any]] = Field(description="the classifier's top items")
    run: RunOut | None = None


class AssignIn(CleanText):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    item_code: Annotated[
        str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", max_length=32)
    ]


class RejectIn(CleanText):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
