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
from typing import Any

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


def sync_catalog(s: Session, catalog: Catalog, now: datetime | None = None) -> SyncReport:
    now = now or datetime.now(UTC)
    report = SyncReport()
    depts = {d.code: d for d in s.scalars(select(Department))}
    for d in catalog.departments.values():
        row = depts.get(d.code)
        values = {"name_zh": d.name_zh, "name_en": d.name_en, "level": d.level.value}
        if row is None:
            s.add(Department(code=d.code, **values))
            report.added.append(f"department {d.code}")
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            report.changed.append(f"department {d.code}")
        else:
            report.unchanged += 1
    s.flush()
    units = {u.code: u for u in s.scalars(select(TerritoryUnit))}
    # Parents first, so foreign keys hold while inserting.
    order = {"district": 0, "street": 1, "community": 2, "grid": 3}
    for u in sorted(catalog.territory.values(), key=lambda u: order[u.kind.value]):
        urow = units.get(u.code)
        uvalues: dict[str, Any] = {
            "kind": u.kind.value,
            "name_zh": u.name_zh,
            "name_en": u.name_en,
            "parent_code": u.parent,
        }
        if urow is None:
            s.add(TerritoryUnit(code=u.code, **uvalues))
            report.added.append(f"territory {u.code}")
        elif any(getattr(urow, k) != v for k, v in uvalues.items()):
            for k, v in uvalues.items():
                setattr(urow, k, v)
            report.changed.append(f"territory {u.code}")
        else:
            report.unchanged += 1
        s.flush()
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
