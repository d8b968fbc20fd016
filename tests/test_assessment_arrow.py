"""Reading the ledger through Arrow (ADBC) gives exactly the frames and the KPIs the Python
driver gives, on both backends (the sample month of tests/test_assessment_sample.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import Engine, create_engine, func, insert, select, text

import gridgov.assessments.engine as engine_mod
from gridgov.assessments import extract
from gridgov.assessments.audit.extract import read_audit
from gridgov.assessments.columnar import joined, open_arrow
from gridgov.assessments.engine import assess
from gridgov.assessments.extract import LedgerExtract, Via, read_ledger, scans
from gridgov.assessments.period import Month, Window
from gridgov.assessments.scheme import load_scheme
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.models import Department
from gridgov.runtime import Runtime
from tests.test_assessment_sample import build_october, sample_ledger

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_arrow_read_equals_the_driver_read(
    runtime: Runtime, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    lg = sample_ledger(runtime, catalog)
    build_october(lg)
    engine = lg.rt.engine
    window = Window.of(Month(2026, 10), lg.rt.calendar.tz, NOW)
    with open_arrow(engine) as reader:
        assert reader is not None  # a file or PostgreSQL ledger is read through ADBC
        # The sample month is most of its ledger: SQLite reads it by scanning.
        assert scans(reader, window) == (engine.dialect.name == "sqlite")
    driver = read_ledger(engine, window, via="driver")
    reads = {"arrow": read_ledger(engine, window, via="arrow")}
    monkeypatch.setattr(extract, "SCAN_READERS", 2)  # events in two ranges, two processes
    reads["arrow, two readers"] = read_ledger(engine, window, via="arrow")
    monkeypatch.setattr(extract, "SCAN_SHARE", 2.0)  # never scan: through the indexes
    reads["arrow, indexes"] = read_ledger(engine, window, via="arrow")
    for label, arrow in reads.items():
        assert len(arrow.events) > 50 and len(arrow.cases) >= 12
        for name in ("cases", "events", "items", "departments", "territory"):
            got, want = getattr(arrow, name), getattr(driver, name)
            pd.testing.assert_frame_equal(got, want, obj=f"{label}: {name}")


def test_the_assessment_is_the_same_through_either_read(
    runtime: Runtime, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    lg = sample_ledger(runtime, catalog)
    build_october(lg)
    reads = []

    def read(engine: Engine, window: Window) -> LedgerExtract:
        reads.append(via)
        return read_ledger(engine, window, via=via)

    monkeypatch.setattr(engine_mod, "read_ledger", read)
    via: Via = "arrow"
    a = assess(lg.rt.engine, lg.rt.calendar, Month(2026, 10), load_scheme(), now=NOW)
    via = "driver"
    b = assess(lg.rt.engine, lg.rt.calendar, Month(2026, 10), load_scheme(), now=NOW)
    assert reads == ["arrow", "driver"]
    assert str(a.totals) == str(b.totals)  # NaN-safe
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], obj=name)
    pd.testing.assert_frame_equal(a.cohort, b.cohort)
    pd.testing.assert_frame_equal(a.trend, b.trend)


def test_the_audit_extract_is_the_same_through_either_read(
    runtime: Runtime, catalog: Catalog
) -> None:
    lg = sample_ledger(runtime, catalog)
    build_october(lg)
    window = Window.of(Month(2026, 10), lg.rt.calendar.tz, NOW)
    arrow = read_audit(lg.rt.engine, window, via="arrow")
    driver = read_audit(lg.rt.engine, window, via="driver")
    assert len(arrow.events) > 50 and arrow.raw_counts == driver.raw_counts
    assert arrow.raw_counts["closed"] > 0
    for name in ("cases", "events", "items", "departments", "territory"):
        pd.testing.assert_frame_equal(getattr(arrow, name), getattr(driver, name), obj=name)


def test_the_driver_read_joins_chunks_with_and_without_values() -> None:
    """Read in chunks, a text column all NULL in one chunk and with values in another (a
    month's ``department`` column: only assisted events have one) is one categorical, its
    categories sorted as one read gives them (was: "dtype of categories must be the same",
    the driver read of a 200k-case month on PostgreSQL)."""
    rows = ["SELECT NULL AS d", "SELECT NULL", "SELECT 'ZB'", "SELECT 'AJ'", "SELECT NULL"]
    with create_engine("sqlite://").connect() as conn:
        got = extract.columns(conn, text(" UNION ALL ".join(rows)), [("d", "cat")], chunk=2)
    want = pd.Categorical([None, None, "ZB", "AJ", None])
    pd.testing.assert_extension_array_equal(got["d"], want)


def test_the_readers_of_a_scan_see_one_snapshot(runtime: Runtime) -> None:
    """A SQLite scan read by several processes (``SCAN_READERS``): each starts its transaction at
    the same moment (``columnar._pinned``), so a commit made after the read began is seen by
    none of them, although their first statements come after it. PostgreSQL is read by one
    connection in one REPEATABLE READ transaction (its snapshot taken at the first read)."""
    engine = runtime.engine
    count = select(func.count()).select_from(Department)
    with engine.connect() as conn:
        before = conn.execute(count).scalar_one()
    with open_arrow(engine, readers=2) as reader:
        assert reader is not None
        sqlite = engine.dialect.name == "sqlite"
        assert reader.readers == (2 if sqlite else 1)
        if not sqlite:
            assert reader.scalar(count) == before
        with engine.begin() as conn:
            conn.execute(
                insert(Department).values(code="ZZ", name_zh="测", name_en="Test", level="district")
            )
        seen = [t.column(0)[0].as_py() for t in reader.tables([(count, "", ())] * reader.readers)]
    assert seen == [before] * reader.readers
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() == before + 1  # the commit happened


def test_parts_of_a_split_scan_join_as_one_read_types_them() -> None:
    """ADBC's SQLite driver types a column by its values: the part of a split scan where
    ``actor`` has no value gives int64 (the 1M benchmark's upper half of events: only
    system, citizen and reviewer events), the other text; joined, the column is text, and a
    number beside text becomes text, as in one read."""
    low = pa.table({"actor": ["p-1", None], "n": [1, 2], "x": pa.array([None, None], pa.int64())})
    high = pa.table({"actor": pa.array([None, None], pa.int64()), "n": [3, 4], "x": [7, None]})
    both = joined([low, high, pa.table({"actor": ["c-2"], "n": [5], "x": ["y"]})])
    assert both.column("actor").to_pylist() == ["p-1", None, None, None, "c-2"]
    assert both.column("n").type == pa.int64()
    assert both.column("x").to_pylist() == [None, None, "7", None, "y"]


def test_unused_categories_dropped_as_pandas_drops_them() -> None:
    """The scan's picked rows keep only the categories they use (``extract._used``, by a
    bincount): the same categoricals pandas' ``remove_unused_categories`` gives, also with
    missing values and with no categories at all."""
    for cat in (
        pd.Categorical(["b", "a", None, "c"], categories=["a", "b", "c", "d"]),
        pd.Categorical(["z", "d"], categories=["a", "d", "z"]),
        pd.Categorical([None, None], categories=pd.Index([], dtype=object)),
        pd.Categorical([], categories=["a"]),
    ):
        pd.testing.assert_extension_array_equal(extract._used(cat), cat.remove_unused_categories())
