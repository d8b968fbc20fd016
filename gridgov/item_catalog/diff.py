"""Compare the catalogue in force on two days: entered, left, changed (and what changed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gridgov.item_catalog.loader import Catalog

IGNORED = {"version", "valid_from", "valid_to"}


@dataclass(frozen=True)
class Change:
    change: str  # entered | left | changed
    code: str
    name: str
    detail: str


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def diff_catalog(catalog: Catalog, before: date, after: date) -> list[Change]:
    a = {i.code: i for i in catalog.in_force(before)}
    b = {i.code: i for i in catalog.in_force(after)}
    changes: list[Change] = []
    for code in sorted(a.keys() | b.keys()):
        old, new = a.get(code), b.get(code)
        if old is None and new is not None:
            changes.append(
                Change("entered", code, new.name_zh, f"v{new.version} from {new.valid_from}")
            )
        elif new is None and old is not None:
            changes.append(
                Change("left", code, old.name_zh, f"v{old.version} until {old.valid_to}")
            )
        elif old is not None and new is not None and old.version != new.version:
            fo = _flat(old.model_dump(mode="json"))
            fn = _flat(new.model_dump(mode="json"))
            fields = [
                f"{k}: {fo.get(k)} → {fn.get(k)}"
                for k in sorted(fo.keys() | fn.keys())
                if k not in IGNORED and fo.get(k) != fn.get(k)
            ]
            changes.append(
                Change(
                    "changed",
                    code,
                    new.name_zh,
                    f"v{old.version} → v{new.version}: " + "; ".join(fields),
                )
            )
    return changes
