"""``gridgov board`` on a ledger with an overdue case (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.domain.enums import Role, Tier
from gridgov.domain.lifecycle import SYSTEM, Actor, EventKind
from gridgov.ledger.supervision import sweep
from gridgov.runtime import Runtime, reset_runtime
from tests.conftest import at
from tests.test_flows import item, new

runner = CliRunner()


def test_board_cli_lists_the_overdue_case(
    runtime: Runtime, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    it = item(runtime, Tier.DEPARTMENT)
    book = runtime.book
    no = book.open_case(new(runtime, it), Actor(Role.PATROLLER, "p"), at(2026, 11, 23, 9), "k")
    case_no = no.case.case_no
    book.act(case_no, EventKind.DISPATCHED, SYSTEM, at(2026, 11, 23, 9), "d")
    sweep(book, at(2026, 11, 30, 9))
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", ledger_url)
    reset_runtime()
    try:
        out = runner.invoke(app, ["board", "--at", "2026-11-30T09:00:00"])
        assert out.exit_code == 0, out.output
        assert case_no in out.output and "升级" in out.output and "UTC+8" in out.output
        # November: next year's holidays are not in the library's data, said in Chinese.
        assert "尚未录入 2027 年的法定节假日安排" in out.output
        mine = runner.invoke(
            app, ["board", "--dept", it.lead_department, "--at", "2026-11-30T09:00"]
        )
        assert case_no in mine.output
        other = next(d for d in sorted(runtime.catalog.departments) if d != it.lead_department)
        theirs = runner.invoke(app, ["board", "--dept", other, "--at", "2026-11-30T09:00"])
        assert theirs.exit_code == 0 and case_no not in theirs.output
        bad = runner.invoke(app, ["board", "--dept", "NOPE"])
        assert bad.exit_code != 0 and "--dept" in bad.output
        lvl = runner.invoke(app, ["board", "--level", "loud"])
        assert lvl.exit_code != 0 and "--level" in lvl.output
    finally:
        reset_runtime()
