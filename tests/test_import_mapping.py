"""The mapping file, the readers and the vectorised working-time deadlines (no database)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gridgov.domain.calendar import Duration, WorkingCalendar
from gridgov.domain.enums import TimeUnit
from gridgov.domain.errors import InvalidInput
from gridgov.domain.worktime import WorkClock, span_us, to_us
from gridgov.exchange.mapping import load_mapping, parse_mapping
from gridgov.exchange.prepare import NONE, parse_times
from gridgov.exchange.readers import CsvSource, json_lines
from gridgov.item_catalog.loader import Catalog
from tests.conftest import TZ, at
from tests.test_import_support import FIXTURES


def _raw(name: str) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def test_fixture_mappings_load_and_check_against_the_catalogue(catalog: Catalog) -> None:
    for name in (
        "szcg_mapping.yaml",
        "hotline_mapping.yaml",
        "jsonl_mapping.yaml",
        "open311_mapping.yaml",
    ):
        m = load_mapping(FIXTURES / name, catalog)
        assert m.columns.used()["id"]
    m = load_mapping(FIXTURES / "szcg_mapping.yaml", catalog)
    assert (m.csv.delimiter, m.csv.encoding, m.actor) == (";", "gbk", "import:szcg-gm")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"types": {"values": {"x": "NO-SUCH-1"}}}, "types.values.x", "unknown item code"),
        ({"departments": {"default": "NOPE"}}, "departments.default", "unknown department"),
        (
            {"communities": {"values": {"y": "GM-GM-NOWHERE"}}},
            "communities.values.y",
            "unknown community",
        ),
        ({"channels": {"default": "pigeon"}}, "channels.default", "unknown channel"),
    ],
)
def test_codes_the_catalogue_lacks_are_refused_naming_the_field(
    catalog: Catalog, tmp_path: Path, change: dict[str, object], field: str, words: str
) -> None:
    data = _raw("szcg_mapping.yaml") | change
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInput) as exc:
        load_mapping(path, catalog)
    assert exc.value.field == field and words in exc.value.message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source_system": "Bad Name"}, "source_system"),
        ({"csv": {"encoding": "klingon"}}, "csv"),
        ({"timezone": "Mars/Olympus"}, None),
        ({"status": {"values": {"x": "lost"}}}, "status.values.x"),
        ({"columns": {"id": "a", "created": "b", "status": "c", "type": "d"}}, None),
    ],
)
def test_malformed_mappings_are_refused(change: dict[str, object], field: str | None) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_mapping(_raw("szcg_mapping.yaml") | change)
    if field:
        assert exc.value.field == field


def test_csv_reader_decodes_gbk_and_numbers_rows(catalog: Catalog) -> None:
    m = load_mapping(FIXTURES / "szcg_mapping.yaml", catalog)
    src = CsvSource(FIXTURES / "szcg_gbk.csv", m)
    scan = src.scan()
    assert scan.total == 18 and scan.repeated == frozenset({"SZ-0010", "SZ-0011"})
    chunks = list(src.chunks(7))
    assert [len(c.frame) for c in chunks] == [7, 7, 4]
    first = chunks[0]
    assert first.lines.tolist() == list(range(2, 9))
    assert (
        first.frame.loc[0, "type"] == "暴露垃圾" and first.frame.loc[0, "community"] == "光明社区"
    )


def test_csv_reader_names_a_missing_column_and_a_wrong_encoding(
    catalog: Catalog, tmp_path: Path
) -> None:
    m = load_mapping(FIXTURES / "hotline_mapping.yaml", catalog)
    bad = tmp_path / "h.csv"
    bad.write_text("ticket_id,created_at\nX,2026-10-10\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no column 'closed_at'"):
        CsvSource(bad, m)
    gbk_as_utf8 = parse_mapping(_raw("szcg_mapping.yaml") | {"csv": {"delimiter": ";"}})
    with pytest.raises(InvalidInput, match="not valid utf-8") as exc:
        CsvSource(FIXTURES / "szcg_gbk.csv", gbk_as_utf8).scan()
    assert exc.value.field == "csv.encoding"


def test_json_lines_reader_reads_dotted_paths_and_flags_broken_lines(catalog: Catalog) -> None:
    m = load_mapping(FIXTURES / "jsonl_mapping.yaml", catalog)
    (chunk,) = list(json_lines(FIXTURES / "misc.jsonl", m).chunks(100))
    assert chunk.unreadable == [(6, "not JSON: Expecting value at column 27")]
    assert chunk.lines.tolist() == [1, 2, 3, 4, 5, 7, 9, 10, 11]  # line 8 is blank
    assert chunk.frame.loc[0, "grid"] == "GM-GM-GUANGMING-G05"


def test_parse_times_local_aware_and_bad() -> None:
    raw = pd.Series(["2026/10/08 10:00", "", "2026/13/40 09:00"], dtype=object)
    us, present, parsed, _ = parse_times(raw, "%Y/%m/%d %H:%M", TZ)
    assert present.tolist() == [True, False, True] and parsed.tolist() == [True, False, False]
    assert us[0] == to_us(at(2026, 10, 8, 10)) and us[1] == NONE
    iso = pd.Series(
        ["2026-10-09T09:15:00+08:00", "2026-10-10 09:00:00", "2026-10-09T01:15:00Z"], dtype=object
    )
    us, _, parsed, _ = parse_times(iso, "iso", TZ)
    assert parsed.all()
    assert us.tolist() == [
        to_us(at(2026, 10, 9, 9, 15)),
        to_us(at(2026, 10, 10, 9)),
        to_us(at(2026, 10, 9, 9, 15)),
    ]


UNITS = [
    Duration(4, TimeUnit.WORKING_HOURS),
    Duration(2, TimeUnit.WORKING_DAYS),
    Duration(0.5, TimeUnit.WORKING_HOURS),
    Duration(15, TimeUnit.WORKING_DAYS),
    Duration(6, TimeUnit.HOURS),
    Duration(30, TimeUnit.MINUTES),
    Duration(3, TimeUnit.DAYS),
]


def test_vectorised_deadlines_equal_the_calendar() -> None:
    cal = WorkingCalendar()
    rng = random.Random(11)
    base = at(2026, 9, 20)
    # Random moments around the Mid-Autumn and National Day holidays, plus period edges.
    starts = [base + timedelta(minutes=rng.randrange(0, 60 * 24 * 40)) for _ in range(300)]
    starts += [
        at(2026, 9, 30, 17),
        at(2026, 9, 30, 18),
        at(2026, 10, 8, 8, 30),
        at(2026, 10, 9, 12),
        at(2026, 10, 10, 9),
        at(2026, 10, 11, 9),
    ]
    clock = WorkClock(cal)
    for d in UNITS:
        us = np.array([to_us(s) for s in starts], dtype=np.int64)
        span = np.full(len(us), span_us(cal, d), dtype=np.int64)
        got = clock.deadline(us, span, np.full(len(us), d.unit.is_working))
        want = [to_us(cal.deadline(s, d)) for s in starts]
        assert got.tolist() == want, d


def test_working_deadline_around_national_day() -> None:
    """Reported 17:00 on 30 September 2026: 1 office hour left that day, then 1–7 October
    are holidays; 4 working hours fall due at 11:30 on 8 October."""
    clock = WorkClock(WorkingCalendar())
    start = np.array([to_us(at(2026, 9, 30, 17))], dtype=np.int64)
    due = clock.deadline(start, np.array([4 * 3_600_000_000]), np.array([True]))
    assert due.tolist() == [to_us(at(2026, 10, 8, 11, 30))]


def test_imported_events_fill_every_event_column() -> None:
    from gridgov.ledger.models import CaseEvent
    from gridgov.ledger.rows import EVENT_COLUMNS

    assert set(EVENT_COLUMNS) == {c.name for c in CaseEvent.__table__.columns} - {"id"}
