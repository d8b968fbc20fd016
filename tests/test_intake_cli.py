"""``gridgov intake``, ``gridgov risk grade|patrols`` and ``gridgov simulate`` end to end."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import reset_runtime
from gridgov.simulate.district import District
from gridgov.simulate.events import machine_events
from gridgov.simulate.risk import inspections
from tests.conftest import at

runner = CliRunner()
HOURS_2 = timedelta(hours=2)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GRIDGOV_DATABASE_URL", raising=False)
    reset_runtime()
    yield tmp_path
    reset_runtime()


def test_intake_takes_good_rows_and_names_bad_ones(home: Path, catalog: Catalog) -> None:
    rows = list(machine_events(catalog, random.Random(1), 20, at(2026, 11, 23, 9), HOURS_2))
    path = home / "events.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, json.dumps(rows[0] | {"event_id": "bad", "grid": "GM-NOWHERE"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = runner.invoke(app, ["intake", str(path)])
    assert first.exit_code == 2, first.output
    assert "line 4" in first.output and "grid" in first.output
    assert "cases opened" in first.output
    again = runner.invoke(app, ["intake", str(path), "--format", "jsonl"])
    assert again.exit_code == 2 and f"{len(rows)}" in again.output  # all already ingested
    missing = runner.invoke(app, ["intake", str(home / "nope.csv")])
    assert missing.exit_code == 2


def test_risk_grade_and_patrols(home: Path, catalog: Catalog) -> None:
    rows = list(inspections(District.of(catalog), random.Random(4), 5, 2, at(2026, 11, 23, 9)))
    path = home / "inspections.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = runner.invoke(app, ["risk", "grade", str(path), "--no-cases"])
    assert out.exit_code == 0, out.output
    assert "Grades in the ledger" in out.output and "building" in out.output
    patrols = runner.invoke(app, ["risk", "patrols", "--now", "2027-01-30T09:00:00+08:00"])
    assert patrols.exit_code == 0 and "15 patrol tasks" in patrols.output


def test_simulate_inline_prints_the_outcomes(home: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("volumes: {patrol_per_grid: 0.05, citizen: 5, hotline: 2}\n", encoding="utf-8")
    out = runner.invoke(app, ["simulate", "--days", "1", "--seed", "3", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert "resolution" in out.output and "Citizen clock" in out.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale: -1\n", encoding="utf-8")
    refused = runner.invoke(app, ["simulate", "--config", str(bad)])
    assert refused.exit_code == 2 and "scale" in refused.output


def test_requests_queue_from_the_command_line(home: Path) -> None:
    """List the dispatcher's queue, assign one request (a dispatched case), reject another."""
    from gridgov.domain.enums import TerritoryKind
    from gridgov.intake.citizen import CitizenDesk, inline_opener
    from gridgov.intake.places import Place, qr_code
    from gridgov.runtime import default_runtime

    rt = default_runtime()
    rt.init_ledger()
    grid = min(rt.catalog.units(TerritoryKind.GRID), key=lambda u: u.code)
    desk, opener = CitizenDesk(rt.book), inline_opener(rt.book)
    ids = [
        desk.submit(
            {
                "channel": "qr",
                "request_id": f"cli-{n}",
                "reporter": "citizen-1",
                "text": text,
                "received_at": at(2026, 11, 23, 9, n).isoformat(),
                "qr": qr_code(Place(grid.parent or "", grid.code, "B1")),
            },
            opener,
        ).id
        for n, text in enumerate(("井盖坏了", "请问这个归谁管？"))
    ]
    listed = runner.invoke(app, ["requests", "list"])
    assert listed.exit_code == 0 and "2 requests waiting" in listed.output
    assert "BJ-GY-003" in listed.output
    no_name = runner.invoke(app, ["requests", "assign", str(ids[0]), "BJ-GY-003", "--by", " "])
    assert no_name.exit_code == 2 and "[--by]" in no_name.output
    done = runner.invoke(app, ["requests", "assign", str(ids[0]), "bj-gy-003", "--by", "王"])
    assert done.exit_code == 0, done.output
    case_no = done.output.split("case ")[1].split()[0]
    case = rt.book.get(case_no)
    assert case.item_code == "BJ-GY-003" and case.status == "dispatched"
    rejected = runner.invoke(
        app, ["requests", "reject", str(ids[1]), "--reason", "not ours", "--by", "王"]
    )
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    assert "0 requests waiting" in runner.invoke(app, ["requests", "list"]).output
    from gridgov.ledger.risk_models import CitizenRequest

    with rt.book.factory() as s:
        decided = [s.get(CitizenRequest, i) for i in ids]
    assert [(r.status, r.decided_by) for r in decided if r] == [
        ("assigned", "cli:王"),
        ("rejected", "cli:王"),
    ]
    missing = runner.invoke(app, ["requests", "reject", "999", "--reason", "x", "--by", "王"])
    assert missing.exit_code == 2 and "[request]" in missing.output
