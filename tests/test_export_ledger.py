"""Whole-ledger and date-range exports (both backends): every case once, whole trails,
checksums in the manifest that ``verify-export`` re-checks."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.domain.errors import InvalidInput
from gridgov.exchange.export import export_ledger, verify_export
from gridgov.ledger.models import Case, CaseEvent
from gridgov.runtime import Runtime
from tests.conftest import at
from tests.test_export import _ledger

AFTER = at(2026, 11, 2, 9)


def test_whole_ledger_once_with_checksums(runtime: Runtime, tmp_path: Path) -> None:
    _ledger(runtime, tmp_path)
    with runtime.book.factory() as s:
        cases = s.scalar(select(func.count()).select_from(Case))
        events = s.scalar(select(func.count()).select_from(CaseEvent))
    out = tmp_path / "all"
    result = export_ledger(runtime.engine, runtime.calendar.tz, "csv", out, now=AFTER)
    assert (result.rows["cases"], result.rows["events"]) == (cases, events)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scope"].startswith("whole ledger")
    assert set(manifest["files"]) >= {"cases.csv", "events.csv", "data_dictionary.csv"}
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["files"].values())
    assert verify_export(out) == []

    # Ranges split the ledger without overlap: September and before + October on.
    first = export_ledger(
        runtime.engine, runtime.calendar.tz, "csv", tmp_path / "a", until=date(2026, 10, 1)
    )
    second = export_ledger(
        runtime.engine, runtime.calendar.tz, "csv", tmp_path / "b", since=date(2026, 10, 1)
    )
    ids_a = set(pd.read_csv(tmp_path / "a" / "cases.csv")["id"])
    ids_b = set(pd.read_csv(tmp_path / "b" / "cases.csv")["id"])
    assert ids_a and ids_b and not ids_a & ids_b
    assert len(ids_a | ids_b) == cases
    assert first.rows["events"] + second.rows["events"] == events

    (out / "events.csv").write_text("tampered\n", encoding="utf-8")
    (out / "cases.csv").unlink()
    assert verify_export(out) == [
        "cases.csv: missing",
        "events.csv: SHA-256 differs from the manifest",
    ]


def test_bad_range_and_cli(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInput) as err:
        export_ledger(
            runtime.engine,
            runtime.calendar.tz,
            "csv",
            tmp_path,
            since=date(2026, 10, 1),
            until=date(2026, 9, 1),
        )
    assert err.value.field == "until"
    from gridgov.runtime import reset_runtime

    monkeypatch.setenv("GRIDGOV_DATABASE_URL", runtime.settings.ledger_url)
    reset_runtime()
    try:
        runner = CliRunner()
        out = runner.invoke(app, ["export", "-o", str(tmp_path / "x"), "--all", "-m", "2026-10"])
        assert out.exit_code == 2 and "give --month, or --all" in out.output
        out = runner.invoke(app, ["export", "-o", str(tmp_path / "x"), "--all"])
        assert out.exit_code == 0, out.output
        ok = runner.invoke(app, ["verify-export", str(tmp_path / "x")])
        assert ok.exit_code == 0 and "every file matches" in ok.output
    finally:
        reset_runtime()
