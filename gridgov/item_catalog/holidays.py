"""Read and validate the operator's holiday file (``holidays.yaml``); all or nothing.

Every error names the file, the line and the date, e.g.
``holidays.yaml:12: 2027-02-10: make-up working day is a Wednesday; 调休上班 falls on a weekend``.
The format is in docs/calendar.md. Lines come from PyYAML's node marks (``yaml.compose``),
so the parser sees exactly what the operator typed (no YAML date guessing).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gridgov.domain.errors import CatalogError
from gridgov.domain.holidays import HolidayTable, YearArrangement

FILE_NAME = "holidays.yaml"
KINDS = ("holidays", "workdays", "rest_days")
_MAX_RANGE = 31  # a statutory break is at most 9 days; a month is generous for local rest


class _Errors(list[str]):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def at(self, node: Node, message: str) -> None:
        self.append(f"{self.name}:{node.start_mark.line + 1}: {message}")


def _mapping(node: Node, what: str, errors: _Errors) -> list[tuple[ScalarNode, Node]]:
    if not isinstance(node, MappingNode):
        errors.at(node, f"{what}: expected a mapping")
        return []
    pairs: list[tuple[ScalarNode, Node]] = []
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            errors.at(key, f"{what}: keys must be plain values")
            continue
        pairs.append((key, value))
    return pairs


def _days(node: ScalarNode, year: int, errors: _Errors) -> list[date]:
    """``2027-02-06`` or a range ``2027-02-06 .. 2027-02-14`` (both ends included)."""
    text = str(node.value).strip()
    parts = [p.strip() for p in text.split("..")] if ".." in text else [text]
    try:
        ends = [date.fromisoformat(p) for p in parts]
    except ValueError:
        errors.at(node, f"{text}: not a YYYY-MM-DD date or 'YYYY-MM-DD .. YYYY-MM-DD' range")
        return []
    if len(ends) != 2 and len(ends) != 1:
        errors.at(node, f"{text}: a range has two ends")
        return []
    first, last = ends[0], ends[-1]
    for d in ends:
        if d.year != year:
            errors.at(node, f"{d}: not in {year}, the year it is listed under")
            return []
    if last < first:
        errors.at(node, f"{text}: range ends before it starts")
        return []
    if (last - first).days >= _MAX_RANGE:
        errors.at(node, f"{text}: range longer than {_MAX_RANGE} days; list it in parts")
        return []
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _year(key: ScalarNode, body: Node, errors: _Errors) -> YearArrangement | None:
    try:
        year = int(str(key.value))
    except ValueError:
        errors.at(key, f"{key.value}: a year must be a number like 2027")
        return None
    if not 1900 <= year <= 2200:
        errors.at(key, f"{year}: year out of range 1900–2200")
        return None
    found: dict[str, dict[date, Node]] = {k: {} for k in KINDS}
    source = ""
    seen: set[str] = set()
    for field_node, value in _mapping(body, str(year), errors):
        name = str(field_node.value)
        if name in seen:
            errors.at(field_node, f"{year}: {name}: given twice")
            continue
        seen.add(name)
        if name == "source":
            if not isinstance(value, ScalarNode) or not str(value.value).strip():
                errors.at(value, f"{year}: source: say where the days come from (the notice)")
            else:
                source = str(value.value).strip()
            continue
        if name not in KINDS:
            errors.at(
                field_node, f"{year}: {name}: unknown field (expected source, {', '.join(KINDS)})"
            )
            continue
        if not isinstance(value, SequenceNode):
            errors.at(value, f"{year}: {name}: expected a list of dates")
            continue
        for entry in value.value:
            if not isinstance(entry, ScalarNode):
                errors.at(entry, f"{year}: {name}: expected a date")
                continue
            for day in _days(entry, year, errors):
                if day in found[name]:
                    errors.at(entry, f"{day}: listed twice in {name}")
                found[name][day] = entry
    if "holidays" not in seen:
        errors.at(key, f"{year}: holidays: missing (list the statutory holidays, 放假)")
    for day, node in found["workdays"].items():
        if day.weekday() < 5:
            errors.at(
                node, f"{day}: make-up working day is a {day:%A}; 调休上班 falls on a weekend"
            )
        for other in ("holidays", "rest_days"):
            if day in found[other]:
                errors.at(node, f"{day}: both a working day and in {other}")
    for day, node in found["rest_days"].items():
        if day in found["holidays"]:
            errors.at(node, f"{day}: already a statutory holiday; not a local rest day too")
    return YearArrangement(
        year,
        frozenset(found["holidays"]),
        frozenset(found["workdays"]),
        frozenset(found["rest_days"]),
        source,
    )


def parse_holidays(text: str, name: str = FILE_NAME) -> HolidayTable:
    """Parse holiday-file text; :class:`CatalogError` lists every problem (file:line: date: why)."""
    errors = _Errors(name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: not YAML: {exc}", field="holidays") from exc
    years: dict[int, YearArrangement] = {}
    if root is None:
        raise CatalogError(
            f"{name}: empty; expected a top-level 'years:' mapping", field="holidays"
        )
    for key, value in _mapping(root, "top level", errors):
        if key.value != "years":
            errors.at(key, f"{key.value}: unknown top-level key (expected 'years')")
            continue
        if isinstance(value, ScalarNode) and value.value in ("", "{}"):
            continue
        for year_key, body in _mapping(value, "years", errors):
            arrangement = _year(year_key, body, errors)
            if arrangement is None:
                continue
            if arrangement.year in years:
                errors.at(year_key, f"{arrangement.year}: year given twice")
            years[arrangement.year] = arrangement
    if errors:
        shown = "\n  ".join(errors[:50])
        raise CatalogError(
            f"holiday file {name} has {len(errors)} error(s); nothing loaded:\n  {shown}",
            field="holidays",
        )
    return HolidayTable(years, name)


def load_holidays(path: Path) -> HolidayTable:
    """Read ``path``; errors name it, its line and the date."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc}", field="holidays_file") from exc
    return parse_holidays(text, path.name)


def holidays_for(catalog_dir: Path, configured: Path | None) -> HolidayTable | None:
    """The configured file, else ``holidays.yaml`` beside the catalogue if there is one."""
    if configured is not None:
        if not configured.is_file():
            raise CatalogError(f"holiday file {configured} does not exist", field="holidays_file")
        return load_holidays(configured)
    default = catalog_dir / FILE_NAME
    return load_holidays(default) if default.is_file() else None
