"""Pydantic models of the catalogue files: items, departments, territory.

A catalogue row follows the national digital-city-management pattern (CJJ/T 106, GB/T 30428):
sub-class → filing condition (立案条件) → handling time limit (处置时限) → closing condition
(结案条件) → responsible unit. Items enter and leave by decision (事项准入与退出), so each row
is one *version* of an item with a validity window.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


class Deadlines(_Strict):
    acknowledge: DeadlineSpec  # 签收
    arrive: DeadlineSpec | None = None  # 到场 (required for tier 3)
    handle: DeadlineSpec  # 处置
    review: DeadlineSpec  # 复核


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
        if self.tier == Tier.DEPARTMENT and self.deadlines.arrive is None:
            raise ValueError("tier 3 (department) items need deadlines.arrive")
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
