"""Imported histories under their own codes (issue 17): a source catalogue brings the source's
types, departments and a shallower territory, with names in any language, while the Chinese
catalogue stays strict. Fixtures made here (tests/fixtures/import/own_codes*), both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gridgov.assessments.engine import assess
from gridgov.assessments.period import Month
from gridgov.assessments.scheme import load_scheme
from gridgov.domain.errors import CatalogError, InvalidInput
from gridgov.exchange.mapping import load_mapping
from gridgov.item_catalog.loader import Catalog, load_catalog
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings
from tests.conftest import own_ledger
from tests.test_import_support import FIXTURES, NOW, case, read_rejects
from tests.test_no_deadline import ITEMS, _catalogue_dir

SOURCE = (FIXTURES / "own_codes_catalogue.yaml").read_text(encoding="utf-8")


def _with_source(root: Path, source: str = SOURCE, items: str = ITEMS) -> Path:
    _catalogue_dir(root, items)
    (root / "sources").mkdir()
    (root / "sources" / "elsewhere.yaml").write_text(source, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def own_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return load_catalog(_with_source(tmp_path_factory.mktemp("catalog_d_own") / "data"))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def own(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, own_catalog: Catalog
) -> Iterator[Runtime]:
    with own_ledger(request.param, own_catalog, tmp_path_factory.mktemp("ledger_d_own")) as url:
        rt = build_runtime(Settings(database_url=url), own_catalog)
        yield rt
        rt.engine.dispose()


def test_source_catalogue_rows_are_ordinary_rows(own_catalog: Catalog) -> None:
    noise = own_catalog.item_on("EW:Noise - Residential", NOW.date())
    assert (noise.name_zh, noise.name_en, int(noise.tier)) == (
        "Noise - Residential",
        "Noise - Residential",
        2,
    )
    litter = own_catalog.latest_of("EW:Basura")
    assert (litter.name_zh, litter.name_en) == ("Basura en la vía pública", "Litter on the street")
    assert litter.lead_department == "EW:DSAN" and litter.deadlines.arrive is None
    assert own_catalog.latest_of("EW:騒音").deadlines.handle is None
    assert own_catalog.departments["EW:DSAN"].name_zh == "Departamento de Saneamiento"
    # Shallower: the area sits straight under its district, which stands in for the street.
    assert own_catalog.street_of("EW:NORTE") == "EW:CITY"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("prefix: EW", "prefix: ew"), "sources/elsewhere.yaml: prefix: String should match"),
        (("code: Basura", "code: 'Ba:sura'"), "items.1.code: String should match"),
        (("parent: CITY}\n  - {code: SUR", "parent: SUR}\n  - {code: SUR"), "territory EW:NORTE"),
        (("lead_department: DSAN", "lead_department: NOPE"), "unknown department 'NOPE'"),
        ((" arrive: none,", ""), "tier 3 (department) items need it"),
        (("code: Noise - Residential", "code: " + "N" * 30), "longer than 32 characters"),
    ],
)
def test_source_files_are_checked_with_clear_errors(
    tmp_path: Path, change: tuple[str, str], said: str
) -> None:
    old, new = change
    assert old in SOURCE
    with pytest.raises(CatalogError) as err:
        load_catalog(_with_source(tmp_path / "data", SOURCE.replace(old, new, 1)))
    assert said in err.value.message, err.value.message


def test_the_chinese_catalogue_stays_strict(tmp_path: Path) -> None:
    row = yaml.safe_load(ITEMS)["items"][0]
    foreign = {**row, "code": "Noise - Residential", "name_zh": None}
    items = yaml.safe_dump({"items": [foreign]}, allow_unicode=True)
    with pytest.raises(CatalogError) as err:
        load_catalog(_catalogue_dir(tmp_path / "data", items))
    assert "items[0] (Noise - Residential v1): code: String should match pattern" in (
        err.value.message
    )
    assert "name_zh: Input should be a valid string" in err.value.message


def test_mapping_needs_the_source_catalogue(tmp_path: Path, own_catalog: Catalog) -> None:
    shipped = load_catalog(_catalogue_dir(tmp_path / "data", ITEMS))
    with pytest.raises(InvalidInput, match="own_codes: no source catalogue with prefix 'EW'"):
        load_mapping(FIXTURES / "own_codes_mapping.yaml", shipped)
    assert load_mapping(FIXTURES / "own_codes_mapping.yaml", own_catalog).own_codes == "EW"


def test_history_imports_under_its_own_codes(own: Runtime, tmp_path: Path) -> None:
    from gridgov.exchange.importer import Importer
    from gridgov.exchange.readers import open_file

    m = load_mapping(FIXTURES / "own_codes_mapping.yaml", own.catalog)
    rejects = tmp_path / "rejects.csv"
    summary = Importer(own.book, m, now=NOW, rejects=rejects).run(
        open_file(FIXTURES / "own_codes.csv", m)
    )
    bad = read_rejects(rejects)
    assert summary.imported == 3 and [(r["source_id"], r["field"]) for r in bad] == [
        ("EW-4", "type")
    ]
    noise, litter, night = (case(own, f"EW-{i}") for i in (1, 2, 3))
    assert (noise.item_code, noise.item_name) == ("EW:Noise - Residential", "Noise - Residential")
    assert (noise.community_code, noise.street_code, noise.grid_code) == (
        "EW:NORTE",
        "EW:CITY",
        None,
    )
    assert (litter.assignee, litter.lead_department, litter.tier) == ("EW:DSAN", "EW:DSAN", 3)
    assert litter.overdue  # 3 days from 5 Oct 10:00, closed 9 Oct 10:00
    assert (night.item_name, night.handle_due, night.overdue) == ("夜間の騒音", None, False)
    a = assess(own.engine, own.calendar, Month.parse("2026-10"), load_scheme("default"))
    t = a.totals
    assert (t["due"], t["closed_on_time"], t["overdue"], t["closed_no_deadline"]) == (2, 1, 1, 1)
    north = a.tables["community"].loc["EW:NORTE"]
    assert (north["name_zh"], north["due"], north["closed_no_deadline"]) == ("Zona Norte", 1, 1)
    assert a.tables["department"].loc["EW:DSAN", "overdue"] == 1
