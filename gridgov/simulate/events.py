"""Synthetic machine-found events: AI-camera and IoT-sensor detections in bursts.

A detection *incident* (one vendor, one overflowing bin…) is seen by one device several times
a few minutes apart, as real platforms re-report (DOMAIN.md: "these arrive in bursts and
repeat"); each sighting has its own event id. Locations are per device, so the repeats of an
incident share a place and deduplicate, while different devices do not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from gridgov.domain.enums import Source, TerritoryKind
from gridgov.intake.vocabulary import MACHINE_TYPES
from gridgov.item_catalog.loader import Catalog

# Relative frequency of AI-camera event types (street order and rubbish dominate).
CAMERA_WEIGHTS = {
    "street_vending": 6,
    "stall_on_road": 4,
    "shop_spill_out": 6,
    "exposed_rubbish": 6,
    "dumped_rubbish": 3,
    "overflowing_bin": 4,
    "scattered_litter": 3,
    "illegal_parking": 5,
    "illegal_taxi": 2,
    "shared_bikes": 3,
    "crowd": 1,
    "hanging_laundry": 1,
    "fire_lane_blocked": 1,
    "construction_dust": 1,
}
SENSOR_WEIGHTS = {"smoke": 4, "electrical_fire": 3, "water_level": 1, "waterlogging": 1, "gas": 1}


def _types(catalog: Catalog, day: datetime, source: Source, weights: dict[str, int]) -> list[str]:
    """The weighted types whose item is in force and reported by ``source`` that day."""
    out: list[str] = []
    for name, w in weights.items():
        try:
            item = catalog.item_on(MACHINE_TYPES[name], day.date())
        except Exception:
            continue
        if source in item.sources:
            out += [name] * w
    return out


def machine_events(
    catalog: Catalog,
    rng: random.Random,
    incidents: int,
    start: datetime,
    span: timedelta,
    *,
    sensor_share: float = 0.07,
    repeats_mean: float = 1.5,
    devices_per_grid: int = 4,
    prefix: str = "ev",
) -> Iterator[dict[str, Any]]:
    """Rows (as platforms send them) for ``incidents`` incidents in [start, start + span)."""
    grids = sorted(
        (u for u in catalog.territory.values() if u.kind == TerritoryKind.GRID),
        key=lambda u: u.code,
    )
    camera = _types(catalog, start, Source.AI_CAMERA, CAMERA_WEIGHTS)
    sensor = _types(catalog, start, Source.IOT_SENSOR, SENSOR_WEIGHTS)
    seq = 0
    for _ in range(incidents):
        grid = rng.choice(grids)
        is_sensor = rng.random() < sensor_share and bool(sensor)
        kind = rng.choice(sensor if is_sensor else camera)
        dev_no = rng.randrange(devices_per_grid)
        device = f"{grid.code}-{'iot' if is_sensor else 'cam'}{dev_no}"
        # A device sits at a fixed spot of its grid: ~0.5 km² per grid, spots ~100 m apart.
        g = int(grid.code.rsplit("G", 1)[-1]) if grid.code.rsplit("G", 1)[-1].isdigit() else 0
        lat = 22.70 + (hash(grid.parent) % 97) * 0.004 + dev_no * 0.001
        lon = 113.90 + g * 0.004 + dev_no * 0.001
        first = start + span * rng.random()
        sightings = 1 + int(rng.expovariate(1 / repeats_mean)) if repeats_mean > 0 else 1
        at = first
        for _ in range(sightings):
            seq += 1
            yield {
                "event_id": f"{prefix}-{seq:08d}",
                "source": "iot_sensor" if is_sensor else "ai_camera",
                "device": device,
                "type": kind,
                "at": at.isoformat(),
                "community": grid.parent,
                "grid": grid.code,
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "confidence": round(rng.uniform(0.6, 0.99), 2),
                "media": f"snap://{device}/{seq}.jpg",
            }
            at += timedelta(minutes=rng.uniform(1, 8))
