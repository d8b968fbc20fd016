"""Imports under their own calendar and zone (both backends): a zone that disagrees with the
ledger's is refused unless confirmed; deadlines are counted with the history's calendar."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from gridgov.domain.errors import InvalidInput
from gridgov.exchange.importer import Importer
from gridgov.exchange.mapping import load_mapping, parse_mapping
from gridgov.exchange.readers import open_file
from gridgov.ledger.models import Case
from gridgov.runtime import Runtime
from tests.test_import_support import FIXTURES, NOW, run

NY = ZoneInfo("America/New_York")


def test_other_zone_is_refused_unless_confirmed(runtime: Runtime, tmp_path: Path) -> None:
    m = load_mapping(FIXTURES / "elsewhere_mapping.yaml", runtime.catalog)
    with pytest.raises(InvalidInput) as err:
        Importer(runtime.book, m, now=NOW, rejects=tmp_path / "r.csv").run(
            open_file(FIXTURES / "elsewhere.csv", m)
        )
    assert err.value.field == "timezone"
    assert "'America/New_York' disagrees with the ledger's zone 'Asia/Shanghai'" in str(err.value)
    with runtime.book.factory() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_history_deadlines_use_its_own_calendar(runtime: Runtime, tmp_path: Path) -> None:
    summary, rejects = run(
        runtime,
        "elsewhere.csv",
        "elsewhere_mapping.yaml",
        tmp_path,
        allow_other_zone=True,
        now=datetime(2026, 11, 1, tzinfo=NY),
    )
    assert (summary.imported, rejects) == (2, [])
    m = load_mapping(FIXTURES / "elsewhere_mapping.yaml", runtime.catalog)
    cal = m.working_calendar(runtime.calendar, allow_other_zone=True)
    assert not cal.is_workday(date(2026, 10, 12))  # the history's own holiday (a Monday)
    assert cal.is_workday(date(2026, 10, 1))  # no Chinese National Day there
    assert cal.source(2031) == "Monday–Friday (no Chinese holidays, as declared)"
    handle = runtime.catalog.latest_of("SH-JF-004").deadlines.handle.to_duration()
    opened = datetime(2026, 10, 9, 16, tzinfo=NY)
    with runtime.book.factory() as s:
        due = s.scalar(select(Case.handle_due).where(Case.source_id == "NY-1"))
    assert due is not None
    # 3 working days of 8 h from Fri 16:00, skipping the weekend and Monday the 12th.
    assert due == cal.deadline(opened, handle) == datetime(2026, 10, 15, 16, tzinfo=NY)
    assert due != runtime.calendar.deadline(opened, handle)


def test_calendar_spec_is_checked_when_loaded(tmp_path: Path, runtime: Runtime) -> None:
    base = {
        "source_system": "x",
        "columns": {"id": "i", "created": "c", "status": "s", "type": "t"},
        "status": {"values": {"open": "reported"}},
        "types": {"default": "SH-JF-004"},
        "communities": {"default": "GM-GM-GUANGMING"},
    }
    with pytest.raises(InvalidInput, match="office period '9-17' is not HH:MM-HH:MM"):
        parse_mapping({**base, "calendar": {"office_hours": "9-17"}})
    path = tmp_path / "m.yaml"
    path.write_text(
        "source_system: x\ncolumns: {id: i, created: c, status: s, type: t}\n"
        "status: {values: {open: reported}}\ntypes: {default: SH-JF-004}\n"
        "communities: {default: GM-GM-GUANGMING}\ncalendar: {holidays_file: nope.yaml}\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as err:
        load_mapping(path, runtime.catalog)
    assert err.value.field == "calendar.holidays_file"


def test_ledger_records_its_zone_and_refuses_another(runtime: Runtime, tmp_path: Path) -> None:
    from gridgov.ledger.zone import check_zone, recorded_zone
    from gridgov.runtime import build_runtime
    from gridgov.settings import Settings

    assert recorded_zone(runtime.engine) == "Asia/Shanghai"  # written by init (the template)
    runtime.init_ledger()  # the same zone again: fine
    other = build_runtime(
        Settings(database_url=runtime.settings.ledger_url, timezone="Europe/Berlin"),
        runtime.catalog,
    )
    try:
        for attempt in (other.init_ledger, other.check_zone):
            with pytest.raises(InvalidInput) as err:
                attempt()
            assert err.value.field == "timezone"
            assert "counts days in 'Asia/Shanghai'" in err.value.message
        m = load_mapping(FIXTURES / "hotline_mapping.yaml", other.catalog)
        with pytest.raises(InvalidInput, match="GRIDGOV_TIMEZONE=Asia/Shanghai"):
            Importer(other.book, m, now=NOW, rejects=tmp_path / "r.csv", allow_other_zone=True).run(
                open_file(FIXTURES / "hotline_bom.csv", m)
            )
    finally:
        other.engine.dispose()
    check_zone(runtime.engine, "Asia/Shanghai")
