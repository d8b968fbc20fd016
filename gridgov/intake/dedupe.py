"""Machine events repeat: one case per (source, item, place) and time window. Pure rules.

* **Place**: the building when the row names one; else a ~55 m cell of its coordinates; else
  the device (a fixed camera or sensor watches one spot); else the grid.
* **Window** (default 30 min, configurable): an event joins the open case with the same key
  that was opened less than the window before (or after, for late arrivals) it; otherwise it
  opens a new case. The window is anchored at the case's opening, so a problem that persists
  for hours is raised again once per window rather than merged forever, and a case that was
  closed (fixed) takes no more repeats: a sighting after that is a new case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from gridgov.intake.machine import MachineEvent

Ref = TypeVar("Ref")


@dataclass(frozen=True, slots=True)
class DedupeRule:
    window: timedelta = timedelta(minutes=30)
    cell_deg: float = 0.0005  # ≈ 55 m of latitude

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise ValueError("dedupe window must be positive")


def place_of(ev: MachineEvent, rule: DedupeRule) -> str:
    if ev.building:
        return f"b:{ev.community}/{ev.building}"
    if ev.lat is not None and ev.lon is not None:
        return f"c:{round(ev.lat / rule.cell_deg)}/{round(ev.lon / rule.cell_deg)}"
    if ev.device:
        return f"d:{ev.device}"
    return f"g:{ev.grid}"


def dedupe_key(ev: MachineEvent, rule: DedupeRule) -> str:
    return f"{ev.source}|{ev.item.code}|{ev.grid}|{place_of(ev, rule)}"[:200]


@dataclass
class Deduper(Generic[Ref]):
    """Matches events, in time order, to open cases (known ones and ones opened meanwhile)."""

    rule: DedupeRule
    open: dict[str, list[tuple[datetime, Ref]]] = field(default_factory=dict)

    def known(self, key: str, opened_at: datetime, ref: Ref) -> None:
        self.open.setdefault(key, []).append((opened_at, ref))

    def match(self, key: str, at: datetime) -> Ref | None:
        """The case this event repeats, or None when it opens a new one."""
        best: tuple[timedelta, Ref] | None = None
        for opened, ref in self.open.get(key, ()):
            gap = abs(at - opened)
            if gap < self.rule.window and (best is None or gap < best[0]):
                best = (gap, ref)
        return None if best is None else best[1]
