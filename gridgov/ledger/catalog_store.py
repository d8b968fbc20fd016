"""Copy the validated catalogue into the ledger, so cases can reference item versions.

Stored item versions are immutable: a file that changes a stored version's content is
refused (bump the version instead). Closing a version (setting ``valid_to``) is allowed and
reported, as are renamed departments or territory units. Nothing changes silently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domain.errors import CatalogError
from gridgov.item_catalog.loader import Catalog
from gridgov.item_catalog.models import Item
from gridgov.ledger.models import CatalogItem, Department, TerritoryUnit


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.changed)} changed, {self.unchanged} unchanged"


def content_hash(item: Item) -> str:
    """Hash of a version's content, ``valid_to`` excluded (retiring is not a change)."""
    data = item.model_dump(mode="json", exclude={"valid_to"})
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


Ref = TypeVar("Ref", Department, TerritoryUnit)


def _upsert(
    s: Session,
    model: type[Ref],
    label: str,
    rows: list[tuple[str, dict[str, Any]]],
    report: SyncReport,
) -> None:
    """Insert new reference rows; update (and report) changed ones; in the given order."""
    stored = {r.code: r for r in s.scalars(select(model))}
    for code, values in rows:
        row = stored.get(code)
        if row is None:
            s.add(model(code=code, **values))
            report.added.append(f"{label} {code}")
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            report.changed.append(f"{label} {code}")
        else:
            report.unchanged += 1
        s.flush()  # parents before children, for the territory's foreign keys


def sync_catalog(s: Session, catalog: Catalog, now: datetime | None = None) -> SyncReport:
    now = now or datetime.now(UTC)
    report = SyncReport()
    _upsert(
        s,
        Department,
        "department",
        [
            (d.code, {"name_zh": d.name_zh, "name_en": d.name_en, "level": d.level.value})
            for d in catalog.departments.values()
        ],
        report,
    )
    order = {"district": 0, "street": 1, "community": 2, "grid": 3}
    _upsert(
        s,
        TerritoryUnit,
        "territory",
        [
            (
                u.code,
                {
                    "kind": u.kind.value,
                    "name_zh": u.name_zh,
                    "name_en": u.name_en,
                    "parent_code": u.parent,
                },
            )
            for u in sorted(catalog.territory.values(), key=lambda u: order[u.kind.value])
        ],
        report,
    )
    stored = {(r.code, r.version): r for r in s.scalars(select(CatalogItem))}
    for item in catalog.items:
        digest = content_hash(item)
        irow = stored.get((item.code, item.version))
        if irow is None:
            s.add(
                CatalogItem(
                    code=item.code,
                    version=item.version,
                    valid_from=item.valid_from,
                    valid_to=item.valid_to,
                    name_zh=item.name_zh,
                    tier=int(item.tier),
                    lead_department=item.lead_department,
                    content_hash=digest,
                    data=item.model_dump(mode="json"),
                    loaded_at=now,
                )
            )
            report.added.append(f"item {item.code} v{item.version}")
        elif irow.content_hash != digest:
            raise CatalogError(
                f"item {item.code} v{item.version} differs from the stored version; versions "
                "are immutable once cases may use them — add version "
                f"{item.version + 1} instead",
                field=f"{item.code}.version",
            )
        elif irow.valid_to != item.valid_to:
            report.changed.append(
                f"item {item.code} v{item.version} valid_to {irow.valid_to} → {item.valid_to}"
            )
            irow.valid_to = item.valid_to
            irow.data = item.model_dump(mode="json")
        else:
            report.unchanged += 1
    s.flush()
    return report
