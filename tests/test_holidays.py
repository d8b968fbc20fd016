"""Operator holiday data: the file's validation, its precedence, and ``gridgov calendar``."""

from __future__ import annotations

import warnings
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.domain.calendar import CalendarDataWarning, Duration, WorkingCalendar
from gridgov.domain.enums import TimeUnit
from gridgov.domain.errors import CatalogError
from gridgov.domain.holidays import library_label
from gridgov.item_catalog.holidays import holidays_for, parse_holidays
from gridgov.item_catalog.loader import DEFAULT_DIR
from gridgov.runtime import reset_runtime

TZ = ZoneInfo("Asia/Shanghai")
runner = CliRunner()

# A made-up arrangement in the published shape (not the real 2027 notice).
SAMPLE = """\
years:
  2027:
    source: sample notice
    holidays:
      - 2027-01-01
      - 2027-02-06 .. 2027-02-14
    workdays:
      - 2027-02-20   # Saturday
    rest_days: [2027-03-03]
  2026:
    source: local override of the library year
    holidays: [2026-03-09]
"""


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "CATALOG_DIR", "HOLIDAYS_FILE"):
        monkeypatch.delenv(f"GRIDGOV_{name}", raising=False)
    reset_runtime()
    yield tmp_path
    reset_runtime()


def test_operator_year_wins_over_library_and_fallback() -> None:
    cal = WorkingCalendar(holidays=parse_holidays(SAMPLE))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalendarDataWarning)  # a declared year never warns
        assert not cal.is_workday(date(2027, 1, 1))  # Friday holiday
        assert not cal.is_workday(date(2027, 2, 10))  # inside the range
        assert cal.is_workday(date(2027, 2, 20))  # Saturday make-up day
        assert not cal.is_workday(date(2027, 3, 3))  # local rest day (Wednesday)
        assert cal.is_workday(date(2027, 3, 4))
        # Fri 2027-02-05 17:00 + 2 working hours: 1 h that day, then nothing until Mon 15th.
        due = cal.deadline(datetime(2027, 2, 5, 17, tzinfo=TZ), Duration(2, TimeUnit.WORKING_HOURS))
        assert due == datetime(2027, 2, 15, 9, 30, tzinfo=TZ)
    # the operator's 2026 replaces the library's: 2026-10-01 is then an ordinary Thursday
    assert not cal.is_workday(date(2026, 3, 9))
    assert cal.is_workday(date(2026, 10, 1))
    assert WorkingCalendar().is_workday(date(2026, 10, 1)) is False
    assert cal.source(2027) == "holidays.yaml (sample notice)"
    assert WorkingCalendar().source(2025) == library_label()
    assert cal.source(2028) is None and not cal.covers(2028)


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ("    holidays: [2027-02-30]\n", 3, "2027-02-30: not a YYYY-MM-DD date"),
        ("    holidays: [2026-12-31]\n", 3, "2026-12-31: not in 2027"),
        (
            "    holidays: []\n    workdays:\n      - 2027-02-10\n",
            5,
            "2027-02-10: make-up working day is a Wednesday",
        ),
        (
            "    holidays: [2027-01-01]\n    workdays: [2027-01-02]\n    rest_days: [2027-01-01]\n",
            5,
            "2027-01-01: already a statutory holiday",
        ),
        ("    holidays: [2027-02-09 .. 2027-02-01]\n", 3, "range ends before it starts"),
        ("    holiday: [2027-01-01]\n", 3, "holiday: unknown field"),
        ("    source: x\n", 2, "holidays: missing"),
        ("    holidays: [2027-01-01, 2027-01-01]\n", 3, "2027-01-01: listed twice"),
    ],
)
def test_errors_name_file_line_and_date(body: str, line: int, says: str) -> None:
    text = "years:\n  2027:\n" + body
    with pytest.raises(CatalogError) as err:
        parse_holidays(text, "holidays.yaml")
    assert f"holidays.yaml:{line}: " in err.value.message
    assert says in err.value.message
    assert err.value.field == "holidays"


def test_shipped_file_is_valid_and_a_configured_path_must_exist(tmp_path: Path) -> None:
    shipped = holidays_for(DEFAULT_DIR, None)
    assert shipped is not None and shipped.origin == "holidays.yaml"
    assert holidays_for(tmp_path, None) is None  # a catalogue without the file: library only
    with pytest.raises(CatalogError, match="does not exist"):
        holidays_for(DEFAULT_DIR, tmp_path / "nope.yaml")


def test_cli_validate_show_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "h.yaml"
    good.write_text(SAMPLE, encoding="utf-8")
    out = runner.invoke(app, ["calendar", "validate", str(good)])
    assert out.exit_code == 0, out.output
    assert "2027: 10 holidays, 1 make-up working days, 1 local rest days" in out.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("years:\n  2027:\n    holidays: [2027-13-01]\n", encoding="utf-8")
    out = runner.invoke(app, ["calendar", "validate", str(bad)])
    assert out.exit_code == 2
    assert "bad.yaml:3: 2027-13-01" in out.output

    out = runner.invoke(app, ["calendar", "show", "2027", "--file", str(good)])
    assert out.exit_code == 0, out.output
    assert "working days from h.yaml (sample notice)" in out.output
    assert " 1H" in out.output and "20W" in out.output and " 3R" in out.output
    # 261 weekdays − 6 weekday holidays (1 Jan, 8–12 Feb) − 1 rest day + 1 make-up day = 255
    assert "255 working days in 2027" in out.output

    out = runner.invoke(app, ["calendar", "check", "--today", "2026-12-07"])
    assert out.exit_code == 1  # the shipped data does not have 2027 yet
    assert "missing: 2027, 2028" in out.output

    monkeypatch.setenv("GRIDGOV_HOLIDAYS_FILE", str(good))
    reset_runtime()
    out = runner.invoke(app, ["calendar", "check", "--today", "2026-12-07", "--years", "1"])
    assert out.exit_code == 0, out.output
    assert "h.yaml (sample notice)" in out.output
