"""Source catalogues: an imported history's own item types, departments and places, kept under
its own codes (docs/catalogue.md, "Source catalogues").

The Chinese catalogue (``items/*.yaml``, ``departments.yaml``, ``territory.yaml``) stays
strict. A file ``sources/<name>.yaml`` in the catalogue directory declares what a history from
elsewhere brings: codes as the source writes them (any text without ``:``), names in any
language, and a territory that may be shallower (an area straight under its district). Every
code is stored as ``<PREFIX>:<source code>``, so it can never collide with a Chinese code (they
have no ``:``), and every entry becomes an ordinary catalogue row: cases, clocks, the
assessment and the audit treat them like any other.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gridgov.domain.enums import Family, Priority, Source, TerritoryKind, Tier
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.item_catalog.models import Deadlines, Department, Item, TerritoryUnit, Text

Prefix = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{0,7}$")]
# A source's own code, as it writes it: any text but ``:`` (the prefix separator).
SourceCode = Annotated[
    str, StringConstraints(min_length=1, max_length=31, strip_whitespace=True, pattern=r"^[^:]+$")
]
CODE_MAX = 32  # the ledger's code columns
LEVEL = {
    TerritoryKind.DISTRICT: 0,
    TerritoryKind.STREET: 1,
    TerritoryKind.COMMUNITY: 2,
    TerritoryKind.GRID: 3,
}
SINCE = date(1900, 1, 1)  # a source type with no stated validity: in force for any history


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SourceItem(_Strict):
    """One type of the source. Only its code, name and limits are required."""

    code: SourceCode
    name: Text  # any language
    name_en: Text | None = None
    tier: Tier = Tier.COMMUNITY
    lead_department: SourceCode = COMMUNITY_UNIT  # ours, or one of the file's departments
    family: Family = Family.EVENT
    deadlines: Deadlines
    sources: tuple[Source, ...] = Field(
        default=(Source.CITIZEN, Source.HOTLINE, Source.PATROL), min_length=1
    )
    priority: Priority = Priority.NORMAL
    valid_from: date = SINCE
    valid_to: date | None = None


class SourceDepartment(_Strict):
    code: SourceCode
    name: Text


class SourceUnit(_Strict):
    """A place of the source. Its parent is any unit of a higher level (levels may be
    skipped: district → area), the file's own or ours."""

    code: SourceCode
    kind: TerritoryKind
    name: Text
    parent: SourceCode | None = None


class SourceFile(_Strict):
    prefix: Prefix
    source_system: Text
    departments: tuple[SourceDepartment, ...] = ()
    territory: tuple[SourceUnit, ...] = ()
    items: tuple[SourceItem, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _lengths(self) -> Self:
        for what, codes in (
            ("items", [i.code for i in self.items]),
            ("departments", [d.code for d in self.departments]),
            ("territory", [u.code for u in self.territory]),
        ):
            for idx, code in enumerate(codes):
                if len(self.prefix) + 1 + len(code) > CODE_MAX:
                    raise ValueError(
                        f"{what}[{idx}].code: {self.prefix}:{code} is longer than {CODE_MAX} "
                        "characters; map the source value to a shorter code in the mapping"
                    )
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            if dupes and what != "items":
                raise ValueError(f"{what}: duplicate codes {', '.join(dupes)}")
        return self

    def code(self, raw: str) -> str:
        return f"{self.prefix}:{raw}"


def _ref(src: SourceFile, raw: str | None, own: set[str]) -> str | None:
    """A reference to the file's own code (prefixed) or, failing that, to one of ours."""
    if raw is None:
        return None
    return src.code(raw) if raw in own else raw


def convert(
    src: SourceFile,
) -> tuple[list[Item], list[Department], list[TerritoryUnit]]:
    """The file's entries as catalogue rows. Each source type is one version (v1, or one per
    distinct validity window, numbered by start)."""
    depts = {d.code for d in src.departments}
    units = {u.code for u in src.territory}
    items: list[Item] = []
    version: dict[str, int] = {}
    for s in sorted(src.items, key=lambda i: (i.code, i.valid_from)):
        version[s.code] = version.get(s.code, 0) + 1
        fields: dict[str, Any] = {
            "code": src.code(s.code),
            "version": version[s.code],
            "valid_from": s.valid_from,
            "valid_to": s.valid_to,
            "name_zh": s.name,  # the display name, in whatever language the source wrote
            "name_en": s.name_en or s.name,
            "family": s.family,
            "category": "imported",
            "subcategory": "source_type",
            "tier": s.tier,
            "lead_department": _ref(src, s.lead_department, depts),
            "assisting_departments": (),
            "filing_condition": f"recorded by {src.source_system}",
            "closing_condition": f"closed in {src.source_system}",
            "evidence": ("source_record",),
            "priority": s.priority,
            "sources": s.sources,
            "deadlines": s.deadlines,
            "keywords": (),
        }
        # Validated field by field above (SourceItem); the Chinese code pattern is the one rule
        # such a row does not follow, so it is built without running Item's validators.
        items.append(Item.model_construct(set(fields), **fields))
    departments = [
        Department.model_construct(
            code=src.code(d.code), name_zh=d.name, name_en=d.name, level=TerritoryKind.DISTRICT
        )
        for d in src.departments
    ]
    territory = [
        TerritoryUnit.model_construct(
            code=src.code(u.code),
            kind=u.kind,
            name_zh=u.name,
            name_en=u.name,
            parent=_ref(src, u.parent, units),
        )
        for u in src.territory
    ]
    return items, departments, territory


def check_places(
    where: str, units: list[TerritoryUnit], known: dict[str, TerritoryUnit], errors: list[str]
) -> None:
    """A source unit's parent exists and sits higher (levels may be skipped); a district has
    none."""
    for u in units:
        if u.kind == TerritoryKind.DISTRICT:
            if u.parent is not None:
                errors.append(f"{where}: territory {u.code}: parent: a district has no parent")
            continue
        parent = known.get(u.parent or "")
        if parent is None or LEVEL[parent.kind] >= LEVEL[u.kind]:
            errors.append(
                f"{where}: territory {u.code}: parent: must be a unit above a {u.kind.value} "
                f"(district, street, community), got {u.parent!r}"
            )


def check_items(where: str, items: list[Item], errors: list[str]) -> None:
    """The rules of Item that hold for source types too (tiers, validity, arrive)."""
    for i in items:
        label = f"{where}: {i.code} v{i.version}"
        if i.valid_to is not None and i.valid_to <= i.valid_from:
            errors.append(f"{label}: valid_to: must be after valid_from")
        if i.tier == Tier.DEPARTMENT and not i.deadlines.arrive_stated:
            errors.append(
                f"{label}: deadlines.arrive: tier 3 (department) items need it "
                "({amount, unit}, or none)"
            )
