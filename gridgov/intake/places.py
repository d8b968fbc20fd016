"""Where a citizen request comes from: the QR code on the building, or a building directory.

The catalogue has territory down to grids but no building list. The "书记在线" plaque on each
building therefore carries its place in the code itself:

    gridgov://qr/v1/<community>/<grid>/<building>     e.g. gridgov://qr/v1/GM-FH-FH/GM-FH-FH-G03/B017

Scanning it routes the request to that grid without a lookup. Requests that come without a
QR code (hotline, app) name the community and grid, or a building that a
:class:`BuildingDirectory` (loaded from the district's building register, CSV
``building,community,grid``) resolves.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gridgov.domain.errors import InvalidInput
from gridgov.domain.territory import place_problem
from gridgov.item_catalog.models import TerritoryUnit

QR_PREFIX = "gridgov://qr/v1/"


@dataclass(frozen=True, slots=True)
class Place:
    community: str
    grid: str
    building: str | None = None


def qr_code(place: Place) -> str:
    return f"{QR_PREFIX}{place.community}/{place.grid}/{place.building or ''}".rstrip("/")


def check_place(place: Place, territory: Mapping[str, TerritoryUnit], field: str) -> Place:
    problem = place_problem(territory, place.community, place.grid)
    if problem is not None:
        raise InvalidInput(problem[1], field=field)
    return place


def parse_qr(text: str, territory: Mapping[str, TerritoryUnit]) -> Place:
    """The place a scanned QR code names; InvalidInput (field ``qr``) when it is not ours."""
    if not text.startswith(QR_PREFIX):
        raise InvalidInput(f"not a gridgov building code: {text[:60]!r}", field="qr")
    parts = text[len(QR_PREFIX) :].split("/")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise InvalidInput("QR code must be …/v1/<community>/<grid>[/<building>]", field="qr")
    building = parts[2] if len(parts) == 3 and parts[2] else None
    return check_place(Place(parts[0], parts[1], building), territory, "qr")


class BuildingDirectory:
    """building code → place, for requests that name a building but bring no QR code."""

    def __init__(self, places: Iterable[Place]) -> None:
        self._by_building = {p.building: p for p in places if p.building}

    @classmethod
    def from_csv(cls, path: Path) -> BuildingDirectory:
        with path.open(encoding="utf-8", newline="") as fh:
            return cls(Place(r["community"], r["grid"], r["building"]) for r in csv.DictReader(fh))

    def __len__(self) -> int:
        return len(self._by_building)

    def find(self, building: str) -> Place | None:
        return self._by_building.get(building)
