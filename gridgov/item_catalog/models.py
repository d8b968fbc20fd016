"""Pydantic models of the catalogue files: items, departments, territory.

A catalogue row follows the national digital-city-management pattern (CJJ/T 106, GB/T 30428):
sub-class → filing condition (立案条件) → handling time limit (处置时限) → closing condition
(结案条件) → responsible unit. Items enter and leave by decision (事项准入与退出), so each row
is one *version* of an item with a validity window.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_serializer,
    model_validator,
)

from gridgov.domain.calendar import Duration
from gridgov.domain.enums import Family, Priority, Source, TerritoryKind, Tier, TimeUnit

Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", max_length=32)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
SUBCATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DeadlineSpec(_Strict):
    """One time limit: an amount and a unit (natural or working time)."""

    amount: float = Field(gt=0, le=10_000)
    unit: TimeUnit

    def to_duration(self) -> Duration:
        return Duration(self.amount, self.unit)

    def __str__(self) -> str:
        return f"{self.amount:g} {self.unit.value}"


NO_LIMIT = "none"  # what a catalogue row writes for a limit it explicitly does not have


def _limit(value: Any) -> Any:
    """``none`` → no such limit; an empty value is a mistake, not a way to say "none"."""
    if value == NO_LIMIT:
        return None
    if value is None:
        raise ValueError(
            f"a time limit is required: {{amount, unit}}, or {NO_LIMIT} if the item "
            "explicitly has no such limit"
        )
    if isinstance(value, str):
        raise ValueError(f"write {{amount, unit}} or {NO_LIMIT}, got {value!r}")
    return value


# A limit the row must state: ``{amount, unit}``, or ``none`` said explicitly (None here).
Limit = Annotated[DeadlineSpec | None, BeforeValidator(_limit)]


class Deadlines(_Strict):
    """The item's time limits. Each must be stated; ``none`` says the item has no such limit
    (its cases are never overdue on it, the 督办 ladder skips it: docs/catalogue.md)."""

    acknowledge: Limit  # 签收
    arrive: Limit = None  # 到场 (tier 3 must state it; without one, the handle limit applies)
    handle: Limit  # 处置
    review: Limit  # 复核

    @field_serializer("acknowledge", "arrive", "handle", "review", mode="wrap")
    def _dump(
        self,
        value: DeadlineSpec | None,
        nxt: SerializerFunctionWrapHandler,
        info: FieldSerializationInfo,
    ) -> Any:
        # ``none`` said in the file is dumped as said; an arrive limit never written stays
        # absent (null), so the stored content hashes of existing rows do not change.
        if value is not None:
            return nxt(value)
        return NO_LIMIT if info.field_name in self.model_fields_set else None

    @property
    def arrive_stated(self) -> bool:
        """The row says something about arriving (a limit, or ``none``)."""
        return "arrive" in self.model_fields_set


class Item(_Strict):
    """One version of a governance item (治理事项)."""

    code: Code
    version: int = Field(ge=1)
    valid_from: date
    valid_to: date | None = None  # exclusive; None = still in force
    name_zh: Text
    name_en: Text
    family: Family
    category: Annotated[str, StringConstraints(pattern=SUBCATEGORY_RE.pattern)]
    subcategory: Annotated[str, StringConstraints(pattern=SUBCATEGORY_RE.pattern)]
    tier: Tier
    lead_department: Code
    assisting_departments: tuple[Code, ...] = ()
    filing_condition: Text  # 立案条件
    closing_condition: Text  # 结案条件
    evidence: tuple[Annotated[str, StringConstraints(pattern=SUBCATEGORY_RE.pattern)], ...] = Field(
        min_length=1
    )
    priority: Priority = Priority.NORMAL
    sources: tuple[Source, ...] = Field(min_length=1)
    deadlines: Deadlines
    keywords: tuple[Text, ...] = ()  # bilingual words used to classify citizen requests

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        if self.tier == Tier.DEPARTMENT and not self.deadlines.arrive_stated:
            raise ValueError(
                f"tier 3 (department) items need deadlines.arrive ({{amount, unit}}, or "
                f"{NO_LIMIT} if the handling limit alone applies)"
            )
        if self.lead_department in self.assisting_departments:
            raise ValueError("lead_department must not also be assisting")
        if len(set(self.assisting_departments)) != len(self.assisting_departments):
            raise ValueError("assisting_departments has duplicates")
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("sources has duplicates")
        return self

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


class Department(_Strict):
    """A functional department (职能部门) or a community's own team."""

    code: Code
    name_zh: Text
    name_en: Text
    level: TerritoryKind = TerritoryKind.DISTRICT  # district or street department


class TerritoryUnit(_Strict):
    code: Code
    kind: TerritoryKind
    name_zh: Text
    name_en: Text
    parent: Code | None = None
