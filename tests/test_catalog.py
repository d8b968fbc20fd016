"""The shipped catalogue, its validation errors, versions, diff, and syncing into the ledger."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from gridgov.domain.enums import Family, TerritoryKind, Tier
from gridgov.domain.errors import CatalogError, UnknownItem
from gridgov.item_catalog.diff import diff_catalog
from gridgov.item_catalog.loader import DEFAULT_DIR, Catalog, load_catalog
from gridgov.ledger.catalog_store import sync_catalog
from gridgov.ledger.db import transaction
from gridgov.ledger.models import CatalogItem
from gridgov.runtime import Runtime

TODAY = date(2026, 11, 23)


def test_shipped_catalogue_shape(catalog: Catalog) -> None:
    assert len(catalog.codes) >= 150
    fams = Counter(i.family for i in catalog.in_force(TODAY))
    assert set(fams) == set(Family)
    tiers = Counter(i.tier for i in catalog.in_force(TODAY))
    assert all(tiers[t] > 0 for t in Tier)
    cats = Counter((i.family, i.category) for i in catalog.latest())
    assert all(n >= 5 for n in cats.values()), cats
    assert len(catalog.units(TerritoryKind.COMMUNITY)) == 31
    assert len(catalog.units(TerritoryKind.GRID)) == 264
    for item in catalog.items:
        if item.tier == Tier.DEPARTMENT:
            assert item.deadlines.arrive is not None


def test_versions_and_validity(catalog: Catalog) -> None:
    multi = [c for c in catalog.codes if len(catalog.versions(c)) > 1]
    assert multi, "the sample catalogue shows at least one versioned item"
    v1, v2 = catalog.versions(multi[0])[:2]
    assert v1.valid_to is not None
    assert catalog.item_on(v1.code, v1.valid_from) == v1
    assert catalog.item_on(v1.code, v1.valid_to) == v2
    retired = [i for i in catalog.latest() if i.valid_to is not None]
    assert retired
    with pytest.raises(UnknownItem):
        catalog.item_on(retired[0].code, retired[0].valid_to)  # type: ignore[arg-type]
    with pytest.raises(UnknownItem):
        catalog.item_on("XX-NOPE-001", TODAY)


def test_diff_reports_entered_left_changed(catalog: Catalog) -> None:
    changes = diff_catalog(catalog, date(2026, 1, 1), TODAY)
    kinds = Counter(c.change for c in changes)
    assert kinds["changed"] >= 1 and kinds["left"] >= 1 and kinds["entered"] >= 1
    changed = next(c for c in changes if c.change == "changed")
    assert "→" in changed.detail


@pytest.fixture
def cat_dir(tmp_path: Path) -> Path:
    dst = tmp_path / "catalog"
    shutil.copytree(DEFAULT_DIR, dst)
    return dst


def _edit(path: Path, fn: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _first_items_file(cat_dir: Path) -> Path:
    return sorted((cat_dir / "items").glob("*.yaml"))[0]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["items"][3]["deadlines"]["handle"].update(unit="fortnights"),
            r"items\[3\] \(.+ v\d+\): deadlines\.handle\.unit",
        ),
        (
            lambda d: d["items"][0].update(lead_department="NOPE"),
            r"items\[0\]|lead_department: unknown department 'NOPE'",
        ),
        (lambda d: d["items"][1].update(tier=7), r"items\[1\] \(.+\): tier"),
        (lambda d: d["items"][2].pop("closing_condition"), r"items\[2\] .*closing_condition"),
        (lambda d: d["items"].append(dict(d["items"][0])), r"version: duplicate"),
        (lambda d: d["items"][0].update(surprise=1), r"items\[0\] .*surprise"),
    ],
)
def test_bad_item_files_name_file_row_and_field(
    cat_dir: Path, mutate: object, expected: str
) -> None:
    path = _first_items_file(cat_dir)
    _edit(path, mutate)
    with pytest.raises(CatalogError, match=expected) as info:
        load_catalog(cat_dir)
    assert path.name in info.value.message and "nothing loaded" in info.value.message


def test_overlapping_versions_refused(cat_dir: Path) -> None:
    def overlap(d: dict[str, list[dict[str, object]]]) -> None:
        row = dict(d["items"][0])
        row.update(version=99, valid_from="2025-06-01")
        d["items"].append(row)

    _edit(_first_items_file(cat_dir), overlap)
    with pytest.raises(CatalogError, match="overlaps"):
        load_catalog(cat_dir)


def test_bad_yaml_and_territory(cat_dir: Path) -> None:
    (cat_dir / "departments.yaml").write_text("departments: [unclosed", encoding="utf-8")
    _edit(
        cat_dir / "territory.yaml", lambda d: d["territory"][-1].update(parent="GM")
    )  # a grid directly under the district
    with pytest.raises(CatalogError) as info:
        load_catalog(cat_dir)
    msg = info.value.message
    assert "departments.yaml: cannot read" in msg
    assert "territory.yaml" in msg and "parent: must be a community code" in msg


def test_sync_is_idempotent_and_versions_are_immutable(runtime: Runtime, cat_dir: Path) -> None:
    with transaction(runtime.book.factory) as s:
        again = sync_catalog(s, runtime.catalog)
    assert again.added == [] and again.changed == []

    def change_name(d: dict[str, list[dict[str, object]]]) -> None:
        d["items"][0]["name_en"] = "Renamed without a new version"

    _edit(_first_items_file(cat_dir), change_name)
    with pytest.raises(CatalogError, match="immutable"), transaction(runtime.book.factory) as s:
        sync_catalog(s, load_catalog(cat_dir))
    with runtime.book.factory() as s:
        renamed = s.scalar(
            select(func.count())
            .select_from(CatalogItem)
            .where(CatalogItem.data["name_en"].as_string() == "Renamed without a new version")
        )
    assert renamed == 0
