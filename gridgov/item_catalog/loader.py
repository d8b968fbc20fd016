"""Load and validate the catalogue files; all or nothing.

Errors name the file, the row (index and code) and the field, e.g.
``items/events.yaml: items[12] (SJ-SR-001 v1): deadlines.handle.unit: Input should be ...``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gridgov.domain.deadlines import DeadlineRules
from gridgov.domain.enums import TerritoryKind
from gridgov.domain.errors import CatalogError, UnknownItem
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.item_catalog.models import Department, Item, TerritoryUnit
from gridgov.item_catalog.sources import SourceFile, check_items, check_places, convert

DEFAULT_DIR = Path(__file__).parent / "data"
M = TypeVar("M", bound=BaseModel)
PARENT_KIND = {
    TerritoryKind.STREET: TerritoryKind.DISTRICT,
    TerritoryKind.COMMUNITY: TerritoryKind.STREET,
    TerritoryKind.GRID: TerritoryKind.COMMUNITY,
}


@dataclass(frozen=True)
class Catalog:
    """The validated catalogue: every version of every item, departments and territory."""

    items: tuple[Item, ...]
    departments: dict[str, Department]
    territory: dict[str, TerritoryUnit]
    source: Path
    _by_code: dict[str, list[Item]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_code: dict[str, list[Item]] = defaultdict(list)
        for item in self.items:
            by_code[item.code].append(item)
        for versions in by_code.values():
            versions.sort(key=lambda i: i.version)
        self._by_code.update(by_code)

    @property
    def codes(self) -> list[str]:
        return sorted(self._by_code)

    def versions(self, code: str) -> list[Item]:
        if code not in self._by_code:
            raise UnknownItem(f"unknown item code {code!r}", field="item_code")
        return list(self._by_code[code])

    def version(self, code: str, version: int) -> Item:
        for item in self.versions(code):
            if item.version == version:
                return item
        raise UnknownItem(f"item {code} has no version {version}", field="item_version")

    def latest_of(self, code: str) -> Item:
        return self.versions(code)[-1]

    def item_on(self, code: str, day: date) -> Item:
        """The version of ``code`` in force on ``day`` (a case keeps it for life)."""
        for item in self.versions(code):
            if item.valid_on(day):
                return item
        raise UnknownItem(
            f"item {code!r} is not in the catalogue on {day}: {self.validity(code)}",
            field="item_code",
        )

    def validity(self, code: str) -> str:
        """When each version of ``code`` is in force, e.g. ``v1 from 2024-01-01 until 2026-03-01``
        (``until`` is the first day it is no longer in force)."""
        if code not in self._by_code:
            return "no such item"
        return "; ".join(
            f"v{i.version} from {i.valid_from}" + (f" until {i.valid_to}" if i.valid_to else "")
            for i in self._by_code[code]
        )

    def in_force(self, day: date) -> list[Item]:
        return [i for i in self.items if i.valid_on(day)]

    def latest(self) -> list[Item]:
        return [versions[-1] for _, versions in sorted(self._by_code.items())]

    def units(self, kind: TerritoryKind) -> list[TerritoryUnit]:
        return [u for u in self.territory.values() if u.kind == kind]

    def street_of(self, community: str) -> str:
        """The unit above a community: its street (in a source's shallower territory, the
        district its area sits in straight away)."""
        unit = self.territory[community]
        assert unit.parent is not None
        return unit.parent


def deadline_rules(item: Item) -> DeadlineRules:
    """The item's limits for the clocks; a limit the row says ``none`` to is None."""
    d = item.deadlines
    return DeadlineRules(
        acknowledge=d.acknowledge.to_duration() if d.acknowledge else None,
        handle=d.handle.to_duration() if d.handle else None,
        review=d.review.to_duration() if d.review else None,
        arrive=d.arrive.to_duration() if d.arrive else None,
    )


def _read_yaml(path: Path, key: str) -> list[Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path.name}: cannot read: {exc}", field=str(path)) from exc
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise CatalogError(f"{path.name}: expected a top-level '{key}:' list", field=key)
    rows: list[Any] = data[key]
    return rows


def _source_file(path: Path, where: str, errors: list[str]) -> SourceFile | None:
    """One ``sources/*.yaml`` file, or None with its errors named like the rest."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        errors.append(f"{where}: cannot read: {exc}")
        return None
    try:
        return SourceFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "file"
            errors.append(f"{where}: {loc}: {err['msg']}")
        return None


def _validate_rows(
    model: type[M], rows: Sequence[Any], where: str, key: str, errors: list[str]
) -> list[M]:
    out: list[M] = []
    for idx, row in enumerate(rows):
        label = f"{where}: {key}[{idx}]"
        if isinstance(row, dict) and "code" in row:
            label += f" ({row['code']}" + (f" v{row['version']})" if "version" in row else ")")
        try:
            out.append(model.model_validate(row))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "row"
                errors.append(f"{label}: {loc}: {err['msg']}")
    return out


def _check_versions(items: Iterable[tuple[str, Item]], errors: list[str]) -> None:
    seen: dict[tuple[str, int], str] = {}
    by_code: dict[str, list[tuple[str, Item]]] = defaultdict(list)
    for where, item in items:
        key = (item.code, item.version)
        if key in seen:
            errors.append(
                f"{where}: {item.code} v{item.version}: version: duplicate (also in {seen[key]})"
            )
        seen[key] = where
        by_code[item.code].append((where, item))
    for code, versions in by_code.items():
        versions.sort(key=lambda wi: wi[1].valid_from)
        for (_, a), (wb, b) in pairwise(versions):
            if a.valid_to is None or a.valid_to > b.valid_from:
                errors.append(f"{wb}: {code} v{b.version}: valid_from: overlaps v{a.version}")


def _check_refs(
    items: Iterable[tuple[str, Item]],
    depts: dict[str, Department],
    territory: dict[str, TerritoryUnit],
    errors: list[str],
) -> None:
    # With no departments at all (unreadable file) every reference would fail: say it once.
    for where, item in items if depts else ():
        for field_name, code in [("lead_department", item.lead_department)] + [
            ("assisting_departments", c) for c in item.assisting_departments
        ]:
            if code not in depts:
                errors.append(
                    f"{where}: {item.code} v{item.version}: {field_name}: "
                    f"unknown department {code!r}"
                )
    for where, item in items:
        # Tier 1/2 items are the community's own work; departments are whistled in at tier 3.
        if item.tier != 3 and item.lead_department != COMMUNITY_UNIT:
            errors.append(
                f"{where}: {item.code} v{item.version}: lead_department: a tier "
                f"{int(item.tier)} item is led by {COMMUNITY_UNIT}"
            )
        if COMMUNITY_UNIT in item.assisting_departments:
            errors.append(
                f"{where}: {item.code} v{item.version}: assisting_departments: "
                f"{COMMUNITY_UNIT} cannot assist"
            )
    for unit in territory.values():
        want = PARENT_KIND.get(unit.kind)
        if want is None:
            if unit.parent is not None:
                errors.append(f"territory.yaml: {unit.code}: parent: a district has no parent")
            continue
        parent = territory.get(unit.parent or "")
        if parent is None or parent.kind != want:
            errors.append(
                f"territory.yaml: {unit.code}: parent: must be a {want.value} code, "
                f"got {unit.parent!r}"
            )


def load_catalog(directory: Path | None = None) -> Catalog:
    """Read ``departments.yaml``, ``territory.yaml`` and ``items/*.yaml`` under ``directory``.

    Raises :class:`CatalogError` listing every problem; returns nothing partial.
    """
    root = Path(directory) if directory else DEFAULT_DIR
    if not root.is_dir():
        raise CatalogError(f"catalogue directory {root} does not exist", field="catalog_dir")
    errors: list[str] = []

    def rows(path: Path, key: str, model: type[M]) -> list[M]:
        if not path.exists():
            errors.append(f"{path.relative_to(root)}: missing file")
            return []
        try:
            return _validate_rows(
                model, _read_yaml(path, key), str(path.relative_to(root)), key, errors
            )
        except CatalogError as exc:
            errors.append(exc.message)
            return []

    depts = rows(root / "departments.yaml", "departments", Department)
    units = rows(root / "territory.yaml", "territory", TerritoryUnit)
    item_files = sorted((root / "items").glob("*.yaml"))
    if not item_files:
        errors.append("items/: no *.yaml item files")
    located: list[tuple[str, Item]] = []
    for path in item_files:
        where = str(path.relative_to(root))
        located += [(where, i) for i in rows(path, "items", Item)]

    own_units: list[tuple[str, list[TerritoryUnit]]] = []
    for path in sorted((root / "sources").glob("*.yaml")):
        where = str(path.relative_to(root))
        src = _source_file(path, where, errors)
        if src is None:
            continue
        s_items, s_depts, s_units = convert(src)
        check_items(where, s_items, errors)
        located += [(where, i) for i in s_items]
        depts += s_depts
        own_units.append((where, s_units))

    dept_map = {d.code: d for d in depts}
    unit_map = {u.code: u for u in units}
    for name, codes in (
        ("departments.yaml", [d.code for d in depts]),
        ("territory.yaml", [u.code for u in units]),
    ):
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            errors.append(f"{name}: code: duplicates {', '.join(dupes)}")
    _check_versions(located, errors)
    _check_refs(located, dept_map, unit_map, errors)
    # Source places follow their own, looser rule (levels may be skipped), checked against
    # ours and every source's units; they join the territory after the strict check above.
    everything = {**unit_map, **{u.code: u for _, us in own_units for u in us}}
    for where, us in own_units:
        check_places(where, us, everything, errors)
    unit_map = everything
    if errors:
        shown = "\n  ".join(errors[:50])
        more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
        raise CatalogError(
            f"catalogue {root} has {len(errors)} error(s); nothing loaded:\n  {shown}{more}",
            field=errors[0].split(":")[0],
        )
    return Catalog(tuple(i for _, i in located), dept_map, unit_map, root)
