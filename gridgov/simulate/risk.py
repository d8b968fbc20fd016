"""Synthetic inspection records of rental housing, calibrated so the domain rules grade them
in DOMAIN.md's shares: buildings (Guangming, 30,254) 82.0 % 放心 / 12.5 % 一般 / 5.5 % 警示;
units (Fucheng, 170,699) 49.6 % 宽管 / 49.0 % 严管 / 1.4 % 禁止.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from gridgov.simulate.district import District

# Finding probabilities (fitted by hand against the shares above; tests check the fit).
BUILDING = {
    "defects": 0.05,
    "dangerous": 0.024,
    "fire_minor": 0.055,
    "fire_serious": 0.028,
    "events_mean": 0.05,
    "hazard_mean": 0.06,
    "unregistered": 0.05,
}
UNIT = {
    "no_smoke_alarm": 0.18,
    "no_extinguisher": 0.2,
    "no_door_access": 0.12,
    "contract_not_filed": 0.18,
    "tenants_unregistered": 0.16,
    "ebike_indoor": 0.05,
    "flying_leads": 0.06,
    "gas_cylinder": 0.06,
    "poor_hygiene": 0.15,
    "escape_blocked": 0.006,
    "live_work": 0.004,
    "structural_damage": 0.002,
}


def _poisson(rng: random.Random, mean: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -mean)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


def building_findings(rng: random.Random) -> dict[str, Any]:
    b = BUILDING
    r = rng.random()
    structure = "dangerous" if r < b["dangerous"] else "defects" if r < b["defects"] else "safe"
    r = rng.random()
    fire = "serious" if r < b["fire_serious"] else "minor" if r < b["fire_minor"] else "compliant"
    unregistered = rng.random() < b["unregistered"]
    return {
        "structure": structure,
        "fire": fire,
        "public_order_events": _poisson(rng, b["events_mean"]),
        "work_safety_hazards": _poisson(rng, b["hazard_mean"]),
        "registered_share": round(rng.uniform(0.5, 0.89) if unregistered else 1.0, 2),
    }


def unit_findings(rng: random.Random) -> dict[str, Any]:
    u = UNIT
    return {
        "smoke_alarm": rng.random() >= u["no_smoke_alarm"],
        "extinguisher": rng.random() >= u["no_extinguisher"],
        "door_access": rng.random() >= u["no_door_access"],
        "contract_filed": rng.random() >= u["contract_not_filed"],
        "tenants_registered": rng.random() >= u["tenants_unregistered"],
        "ebike_indoor_charging": rng.random() < u["ebike_indoor"],
        "flying_leads": rng.random() < u["flying_leads"],
        "gas_cylinder": rng.random() < u["gas_cylinder"],
        "hygiene": "poor" if rng.random() < u["poor_hygiene"] else "good",
        "escape_route_blocked": rng.random() < u["escape_blocked"],
        "live_work": rng.random() < u["live_work"],
        "structural_damage": rng.random() < u["structural_damage"],
    }


def inspections(
    district: District,
    rng: random.Random,
    buildings: int,
    units_per_building: int,
    at: datetime,
    prefix: str = "insp",
) -> Iterator[dict[str, Any]]:
    """Rows as ``gridgov risk grade`` reads them: each building, then its units."""
    n = 0
    for b in range(buildings):
        place = district.building(rng)
        code = f"{place.building}-R{b:05d}"
        n += 1
        yield {
            "inspection_id": f"{prefix}-{n:07d}",
            "kind": "building",
            "building": code,
            "community": place.community,
            "grid": place.grid,
            "address": f"{place.grid} building {b}",
            "inspected_at": (at + timedelta(minutes=n)).isoformat(),
            "inspector": f"grid-worker-{place.grid}",
            **building_findings(rng),
        }
        for u in range(units_per_building):
            n += 1
            yield {
                "inspection_id": f"{prefix}-{n:07d}",
                "kind": "unit",
                "building": code,
                "unit": f"{code}-{u + 1:02d}",
                "inspected_at": (at + timedelta(minutes=n)).isoformat(),
                "inspector": f"grid-worker-{place.grid}",
                **unit_findings(rng),
            }
