"""Whether a place is one of ours: the "grid in community" rule, written once for every
entry point (case book, machine rows, QR codes, Open311, imports)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gridgov.domain.enums import TerritoryKind


class Unit(Protocol):
    """What the rule reads of a territory unit (``item_catalog`` units have it)."""

    @property
    def kind(self) -> TerritoryKind: ...

    @property
    def parent(self) -> str | None: ...


def place_problem(
    units: Mapping[str, Unit], community: str | None, grid: str | None
) -> tuple[str, str] | None:
    """(field, reason) when ``community`` is not a community, ``grid`` (if given) not a grid,
    or the grid not inside the community; None when the place is good. A community of None
    is not checked (callers that derive it from the grid pass None)."""
    if community is not None:
        unit = units.get(community)
        if unit is None or unit.kind != TerritoryKind.COMMUNITY:
            return "community", f"unknown community {community!r}"
    if grid is not None:
        g = units.get(grid)
        if g is None or g.kind != TerritoryKind.GRID or g.parent is None:
            return "grid", f"unknown grid {grid!r}"
        if community is not None and g.parent != community:
            return "grid", outside(grid, community)
    return None


def outside(grid: object, community: object) -> str:
    """The reason given for a grid that is not inside the community named with it."""
    return f"grid {grid} is not in community {community}"
