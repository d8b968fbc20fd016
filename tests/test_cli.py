"""The gridgov command: init, catalogue commands, deployments check, friendly errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.item_catalog.loader import DEFAULT_DIR
from gridgov.runtime import reset_runtime

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GRIDGOV_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRIDGOV_CATALOG_DIR", raising=False)
    reset_runtime()
    yield tmp_path
    reset_runtime()


def test_init_twice_creates_the_ledger_then_changes_nothing(isolated_home: Path) -> None:
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert (isolated_home / "home" / "ledger.sqlite3").exists()
    assert "added" in first.output and "31 communitys" not in first.output
    second = runner.invoke(app, ["init"])
    assert second.exit_code == 0
    assert "0 added, 0 changed" in second.output


def test_catalog_list_show_diff() -> None:
    listed = runner.invoke(app, ["catalog", "list", "--tier", "1", "--on", "2026-11-23"])
    assert listed.exit_code == 0 and "COMMUNITY" in listed.output
    shown = runner.invoke(app, ["catalog", "show", "SJ-SR-001"])
    assert shown.exit_code == 0 and "closing_condition" in shown.output
    diff = runner.invoke(app, ["catalog", "diff", "--from", "2026-01-01", "--to", "2026-11-23"])
    assert diff.exit_code == 0
    assert "entered" in diff.output and "left" in diff.output and "changed" in diff.output


def test_unknown_item_and_bad_date_are_clear_errors() -> None:
    missing = runner.invoke(app, ["catalog", "show", "ZZ-NOPE-001"])
    assert missing.exit_code == 2 and "unknown item code 'ZZ-NOPE-001'" in missing.output
    assert "[item_code]" in missing.output  # the field survives rich markup
    bad = runner.invoke(app, ["catalog", "list", "--on", "23/11/2026"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_validate_reports_file_row_field(tmp_path: Path) -> None:
    target = tmp_path / "cat"
    shutil.copytree(DEFAULT_DIR, target)
    path = target / "items" / "events.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["items"][0]["sources"] = ["carrier_pigeon"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["catalog", "validate", str(target)])
    assert result.exit_code == 2
    assert "items/events.yaml: items[0]" in result.output and "sources.0" in result.output
    ok = runner.invoke(app, ["catalog", "validate", str(DEFAULT_DIR)])
    assert ok.exit_code == 0 and "ok" in ok.output


def test_deployments_check_detects_drift(tmp_path: Path) -> None:
    good = runner.invoke(
        app, ["deployments", "generate", "--check", "-o", str(ROOT / "prefect.yaml")]
    )
    assert good.exit_code == 0, good.output
    stale = tmp_path / "prefect.yaml"
    stale.write_text("deployments: []\n", encoding="utf-8")
    bad = runner.invoke(app, ["deployments", "generate", "--check", "-o", str(stale)])
    assert bad.exit_code == 1 and "out of sync" in bad.output
