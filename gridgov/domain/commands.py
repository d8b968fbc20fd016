"""What a caller supplies: a new case, and the payload each event kind requires."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, ValidationError

from gridgov.domain.calendar import Duration
from gridgov.domain.enums import Rating, Source, TimeUnit
from gridgov.domain.errors import InvalidInput
from gridgov.domain.lifecycle import EventKind
from gridgov.domain.text import CleanText

Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
UnitCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", max_length=32)
]


class _Payload(CleanText):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class NewCase(_Payload):
    """A report of a problem (上报)."""

    item_code: UnitCode
    community: UnitCode
    grid: UnitCode | None = None
    building: Annotated[str, StringConstraints(max_length=120)] | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    source: Source
    reporter: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    media: tuple[Ref, ...] = Field(default=(), max_length=20)
    source_system: Annotated[str, StringConstraints(max_length=64)] | None = None
    source_id: Annotated[str, StringConstraints(max_length=128)] | None = None


class NoPayload(_Payload):
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class WithReason(_Payload):
    reason: Reason


class Dispatch(_Payload):
    """分拨: to whom (default: the item's lead department, or the community for tier 2)."""

    department: UnitCode | None = None
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class Reroute(_Payload):
    """改派 to another department, or ``COMMUNITY`` when the community takes it back."""

    department: UnitCode
    reason: Reason


class ExtensionRequest(_Payload):
    amount: float = Field(gt=0, le=1000)
    unit: TimeUnit
    reason: Reason

    def duration(self) -> Duration:
        return Duration(self.amount, self.unit)


class ExtensionGrant(_Payload):
    """延期批准: by default the amount requested; the dispatcher may grant another."""

    amount: float | None = Field(default=None, gt=0, le=1000)
    unit: TimeUnit | None = None
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class Handled(_Payload):
    evidence: tuple[Ref, ...] = Field(min_length=1, max_length=20)
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class Rated(_Payload):
    rating: Rating
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class Supervision(_Payload):
    clock: str
    due: str
    step: int = Field(ge=0)


PAYLOADS: dict[EventKind, type[_Payload]] = {
    EventKind.DISPATCHED: Dispatch,
    EventKind.RETURNED: WithReason,
    EventKind.RETURN_REFUSED: WithReason,
    EventKind.REROUTED: Reroute,
    EventKind.EXTENSION_REQUESTED: ExtensionRequest,
    EventKind.EXTENSION_GRANTED: ExtensionGrant,
    EventKind.EXTENSION_REFUSED: WithReason,
    EventKind.HANDLED: Handled,
    EventKind.REVIEW_FAILED: WithReason,
    EventKind.RATED: Rated,
    EventKind.CANCELLED: WithReason,
}


def first_error(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """Turn pydantic's report into one error naming the field and the reason."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or None
    return InvalidInput(f"{field or 'body'}: {err['msg']}", field=field)


def parse_payload(kind: EventKind, data: dict[str, Any] | None) -> dict[str, Any]:
    """Validate the payload for ``kind``; return it normalised (JSON-ready)."""
    model = PAYLOADS.get(kind, NoPayload if kind not in _FREE else None)
    if model is None:  # system events carry their own structured payload
        return dict(data or {})
    try:
        return model.model_validate(data or {}).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        raise first_error(exc, "payload.") from exc


_FREE = {
    EventKind.CREATED,
    EventKind.REMINDED,
    EventKind.SUPERVISED,
    EventKind.ESCALATED,
    EventKind.NOTIFIED,
    EventKind.CLOSED,
    EventKind.REOPENED,
    EventKind.REVIEW_STARTED,
    EventKind.DEADLINE_RECOUNTED,
}


class Answer(_Payload):
    """A person's answer to a waiting case (or a system step), as flows and the API carry it."""

    kind: EventKind
    role: str
    actor: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    department: UnitCode | None = None
    community: UnitCode | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    key: Annotated[str, StringConstraints(min_length=1, max_length=200)]
