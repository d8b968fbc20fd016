"""Machine-found events (AI cameras, IoT sensors): the row format, reading JSON Lines and CSV,
and checking each row against the catalogue and territory. Pure: no database.

A row that fails is reported with its line number and field and left out; good rows go on.
Field names (JSON keys or CSV header): ``event_id`` (optional: a content hash stands in),
``source`` (ai_camera | iot_sensor), ``device``, ``type`` (a platform type from
``vocabulary.MACHINE_TYPES``) or ``item_code``, ``at`` (ISO 8601 with a timezone),
``community``, ``grid``, ``building``, ``lat``, ``lon``, ``confidence`` (0–1), ``media``,
``description``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints, ValidationError

from gridgov.domain.enums import Source
from gridgov.domain.territory import place_problem
from gridgov.domain.text import CleanText
from gridgov.intake.vocabulary import MACHINE_TYPES
from gridgov.item_catalog.loader import Catalog
from gridgov.item_catalog.models import Item

Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", max_length=32)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class MachineRow(CleanText):
    """One event as a platform sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    source: Literal["ai_camera", "iot_sensor"]
    device: Short | None = None
    type: Short | None = None
    item_code: Code | None = None
    at: AwareDatetime
    community: Code
    grid: Code
    building: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    confidence: float | None = Field(default=None, ge=0, le=1)
    media: Annotated[str, StringConstraints(max_length=500)] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] = ""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(slots=True)  # not frozen: frozen init costs a setattr call per field
class MachineEvent:
    """A checked row, resolved to the catalogue item version in force on its local day."""

    line: int
    event_id: str
    source: str  # a Source value, as stored
    device: str | None
    event_type: str
    item: Item
    at: datetime  # in UTC, as stored
    community: str
    street: str
    grid: str
    building: str | None
    lat: float | None
    lon: float | None
    confidence: float | None
    media: str | None
    description: str


def content_id(raw: Mapping[str, Any]) -> str:
    """Stand-in event id: a hash of the row's content, so a re-sent row is recognised."""
    canon = json.dumps(
        {k: v for k, v in raw.items() if v not in (None, "")}, sort_keys=True, default=str
    )
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()[:40]


def read_rows(path: Path, fmt: Format | None = None) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for each record; a str instead of a row is a parse error."""
    fmt = fmt or (Format.CSV if path.suffix.lower() == ".csv" else Format.JSONL)
    with path.open(encoding="utf-8", newline="") as fh:
        yield from parse_text(fh, fmt)


def parse_text(lines: Iterable[str], fmt: Format) -> Iterator[tuple[int, dict[str, Any] | str]]:
    if fmt == Format.CSV:
        text = lines if isinstance(lines, io.TextIOBase) else io.StringIO("".join(lines))
        reader = csv.DictReader(text)
        for row in reader:
            if None in row:  # more cells than header fields
                yield reader.line_num, "more cells than the header has columns"
                continue
            yield reader.line_num, {k: v for k, v in row.items() if v not in ("", None)}
        return
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, f"not JSON: {exc.msg} (column {exc.colno})"
            continue
        yield n, obj if isinstance(obj, dict) else "a row must be a JSON object"


class RowChecker:
    """Checks rows against the catalogue and territory (cached per item code and local day)."""

    def __init__(self, catalog: Catalog, tz: Any) -> None:
        self.catalog = catalog
        self.tz = tz
        self._items: dict[tuple[str, date], Item | str] = {}
        self._streets: dict[str, str] = {}

    def _street(self, community: str) -> str:
        street = self._streets.get(community)
        if street is None:
            street = self._streets[community] = self.catalog.street_of(community)
        return street

    def _item(self, code: str, day: date) -> Item | str:
        key = (code, day)
        if key not in self._items:
            try:
                self._items[key] = self.catalog.item_on(code, day)
            except Exception as exc:  # UnknownItem: say which code and day
                self._items[key] = str(exc)
        return self._items[key]

    def check(self, line: int, raw: dict[str, Any] | str) -> MachineEvent | list[RowError]:
        if isinstance(raw, str):
            return [RowError(line, "row", raw)]
        try:
            row = MachineRow.model_validate(raw)
        except ValidationError as exc:
            return [
                RowError(line, ".".join(str(p) for p in e["loc"]) or "row", e["msg"])
                for e in exc.errors()
            ]
        errors: list[RowError] = []
        code = row.item_code
        if code is None and row.type is None:
            errors.append(RowError(line, "type", "give a type or an item_code"))
        elif code is None:
            code = MACHINE_TYPES.get(row.type or "")
            if code is None:
                errors.append(RowError(line, "type", f"unknown event type {row.type!r}"))
        problem = place_problem(self.catalog.territory, row.community, row.grid)
        if problem is not None:
            errors.append(RowError(line, *problem))
        item: Item | str = "no item"
        if code is not None:
            item = self._item(code, row.at.astimezone(self.tz).date())
            field = "item_code" if row.item_code else "type"
            if isinstance(item, str):
                errors.append(RowError(line, field, item))
            elif Source(row.source) not in item.sources:
                errors.append(
                    RowError(line, "source", f"item {item.code} is not reported by {row.source}")
                )
        if errors or isinstance(item, str):
            return errors
        return MachineEvent(
            line=line,
            event_id=row.event_id or content_id(raw),
            source=row.source,
            device=row.device,
            event_type=row.type or item.code,
            item=item,
            at=row.at.astimezone(UTC),
            community=row.community,
            street=self._street(row.community),
            grid=row.grid,
            building=row.building,
            lat=row.lat,
            lon=row.lon,
            confidence=row.confidence,
            media=row.media,
            description=row.description,
        )
