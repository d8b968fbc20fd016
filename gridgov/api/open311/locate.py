"""Where an Open311 request is: an explicit grid/community, else the nearest grid to lat/long.

The catalogue has no geometries yet, so "nearest grid" uses a stand-in that is stated here
and in docs/api.md rather than hidden: the jurisdiction's bounding box (the sample territory
is shaped like Guangming district, 光明区) is cut into a lattice of equal cells, one per grid,
filled row by row from the north-west corner in grid-code order; a point goes to the grid
whose cell centre is nearest (equirectangular distance). It is deterministic and total
inside the box; points outside it are refused. Replace ``centres`` with real grid centroids
when the territory file carries them: nothing else changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gridgov.domain.enums import TerritoryKind
from gridgov.domain.errors import InvalidInput
from gridgov.domain.territory import outside
from gridgov.item_catalog.loader import Catalog

# south, west, north, east (WGS-84 degrees): roughly the extent of Guangming district.
BBOX = (22.70, 113.83, 22.84, 114.00)


@dataclass(frozen=True)
class Place:
    community: str
    grid: str | None
    located_by: str  # "grid" | "community" | "nearest-grid"


class Locator:
    def __init__(self, catalog: Catalog, bbox: tuple[float, float, float, float] = BBOX) -> None:
        self.catalog = catalog
        self.bbox = bbox
        grids = sorted(u.code for u in catalog.units(TerritoryKind.GRID))
        self.centres = self._lattice(grids)

    def _lattice(self, grids: list[str]) -> dict[str, tuple[float, float]]:
        south, west, north, east = self.bbox
        n = len(grids)
        if n == 0:
            return {}
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        dlat, dlon = (north - south) / rows, (east - west) / cols
        return {
            code: (north - (i // cols + 0.5) * dlat, west + (i % cols + 0.5) * dlon)
            for i, code in enumerate(grids)
        }

    def nearest_grid(self, lat: float, lon: float) -> str:
        south, west, north, east = self.bbox
        if not (south <= lat <= north and west <= lon <= east):
            raise InvalidInput(
                f"lat/long ({lat}, {lon}) is outside this jurisdiction "
                f"({south}–{north} N, {west}–{east} E); give attribute[grid]",
                field="lat",
            )
        if not self.centres:
            raise InvalidInput("the territory has no grids to locate in", field="lat")
        scale = math.cos(math.radians(lat))

        def distance(code: str) -> tuple[float, str]:  # ties go to the smaller code
            clat, clon = self.centres[code]
            return (clat - lat) ** 2 + ((clon - lon) * scale) ** 2, code

        return min(self.centres, key=distance)

    def place(
        self,
        grid: str | None,
        community: str | None,
        lat: float | None,
        lon: float | None,
    ) -> Place:
        units = self.catalog.territory
        if grid is not None:
            unit = units.get(grid)
            if unit is None or unit.kind != TerritoryKind.GRID or unit.parent is None:
                raise InvalidInput(f"unknown grid {grid!r}", field="attribute[grid]")
            if community is not None and community != unit.parent:
                raise InvalidInput(outside(grid, community), field="attribute[community]")
            return Place(unit.parent, grid, "grid")
        if community is not None:
            unit = units.get(community)
            if unit is None or unit.kind != TerritoryKind.COMMUNITY:
                raise InvalidInput(f"unknown community {community!r}", field="attribute[community]")
            return Place(community, None, "community")
        if lat is None or lon is None:
            raise InvalidInput(
                "a location is needed: lat and long, or attribute[grid] / attribute[community] "
                "(an address_string alone cannot be placed)",
                field="lat",
            )
        code = self.nearest_grid(lat, lon)
        parent = units[code].parent
        assert parent is not None
        return Place(parent, code, "nearest-grid")
