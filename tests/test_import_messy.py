"""Histories as other systems export them (both backends): clock skew clamped and counted,
daylight-saving times by policy, rejects that say what is wrong, and the CLI's exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.exchange.importer import Importer
from gridgov.exchange.mapping import parse_mapping
from gridgov.exchange.readers import open_file
from gridgov.ledger.models import Case
from gridgov.runtime import Runtime, reset_runtime
from tests.test_import_support import FIXTURES, read_rejects

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _import(rt: Runtime, tmp: Path, **over: Any) -> tuple[Any, dict[str, dict[str, str]]]:
    data = yaml.safe_load((FIXTURES / "messy_mapping.yaml").read_text(encoding="utf-8"))
    m = parse_mapping({**data, **over})
    rejects = tmp / "r.csv"
    summary = Importer(rt.book, m, now=NOW, rejects=rejects, allow_other_zone=True).run(
        open_file(FIXTURES / "messy.csv", m)
    )
    return summary, {r["source_id"]: r for r in read_rejects(rejects)}


def _opened(rt: Runtime, sid: str) -> datetime | None:
    with rt.book.factory() as s:
        return s.scalar(select(Case.opened_at).where(Case.source_id == sid))


def test_skew_clamped_dst_rejected_and_messages_say_why(runtime: Runtime, tmp_path: Path) -> None:
    summary, rejects = _import(runtime, tmp_path)
    assert (summary.imported, summary.clamped) == (1, 1)  # M-1: closed 30 s early, clamped
    with runtime.book.factory() as s:
        m1 = s.execute(select(Case.opened_at, Case.closed_at).where(Case.source_id == "M-1")).one()
    assert m1.closed_at == m1.opened_at
    assert set(rejects) == {"M-2", "M-3", "M-4", "M-5"}
    assert rejects["M-2"]["detail"] == (
        "closed 2026-10-05 09:00:00 before it was created 2026-10-05 11:00:00 "
        "(more than the 120 s clock_skew_seconds)"
    )
    for sid, wall in (("M-3", "2026-11-01 01:30:00"), ("M-5", "2026-03-08 02:30:00")):
        assert rejects[sid]["reason"] == "bad_date"
        assert rejects[sid]["detail"].startswith(
            f"local time {wall} is not one moment in America/New_York (a daylight-saving change"
        )
    assert rejects["M-4"]["detail"] == (
        "item SH-JF-004 is not in the catalogue on 2024-06-03: v1 from 2025-01-01"
    )


@pytest.mark.parametrize(("policy", "utc_hour"), [("earlier", 5), ("later", 6)])
def test_ambiguous_policy_picks_an_occurrence(
    runtime: Runtime, tmp_path: Path, policy: str, utc_hour: int
) -> None:
    _, rejects = _import(runtime, tmp_path, ambiguous_times=policy)
    assert "M-3" not in rejects and "M-5" in rejects  # a skipped time never exists
    assert _opened(runtime, "M-3") == datetime(2026, 11, 1, utc_hour, 30, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    for name in ("DATABASE_URL", "CATALOG_DIR", "HOLIDAYS_FILE", "TIMEZONE"):
        monkeypatch.delenv(f"GRIDGOV_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    reset_runtime()
    yield tmp_path
    reset_runtime()


def test_cli_before_init_and_when_every_row_fails(home: Path) -> None:
    runner = CliRunner()
    args = ["import", "cases", str(FIXTURES / "messy.csv"), "-m"]
    out = runner.invoke(app, [*args, str(FIXTURES / "messy_mapping.yaml"), "--allow-other-zone"])
    assert out.exit_code == 2
    assert "has no tables yet: run `gridgov init` first" in " ".join(out.output.split())
    assert "Traceback" not in out.output
    assert runner.invoke(app, ["init"]).exit_code == 0
    out = runner.invoke(app, [*args, str(FIXTURES / "messy_mapping.yaml")])
    assert out.exit_code == 2 and "disagrees with the ledger's zone" in " ".join(out.output.split())
    old = home / "old.yaml"  # every row's item is mapped to a code not yet in force
    data = yaml.safe_load((FIXTURES / "messy_mapping.yaml").read_text(encoding="utf-8"))
    data["timezone"] = "Asia/Shanghai"
    data["status"] = {"values": {"open": "dispatched", "closed": "closed"}}
    old.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    one = home / "one.csv"
    one.write_text(
        "case_id,opened,closed,status,kind,area\n"
        "X-1,2024-06-03 10:00:00,,open,noise,GM-GM-GUANGMING\n"
        "X-2,2024-06-04 10:00:00,,open,noise,GM-GM-GUANGMING\n",
        encoding="utf-8",
    )
    out = runner.invoke(app, ["import", "cases", str(one), "-m", str(old)])
    assert out.exit_code == 1, out.output
    assert "every one of the 2 rows was rejected" in " ".join(out.output.split())
