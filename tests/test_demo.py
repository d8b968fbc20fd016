"""`gridgov demo`'s scenario, run through real flows on the Prefect test harness."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from gridgov.runtime import Runtime, default_runtime, reset_runtime
from gridgov.simulate.demo import demo_start, run_demo
from tests.conftest import at

pytestmark = pytest.mark.prefect


@pytest.fixture
def rt(
    tmp_path: Path, sqlite_template: Path, prefect_server: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """The demo's default ledger in ``GRIDGOV_HOME``: a copy of the migrated template."""
    shutil.copy(sqlite_template, tmp_path / "ledger.sqlite3")
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path))
    monkeypatch.delenv("GRIDGOV_DATABASE_URL", raising=False)
    monkeypatch.setenv("GRIDGOV_SPOT_CHECK_SHARE", "1")  # the field fix is always spot-checked
    reset_runtime()
    runtime = default_runtime()
    yield runtime
    runtime.engine.dispose()
    reset_runtime()


async def test_demo_stories_end_where_they_should(rt: Runtime) -> None:
    seen: list[str] = []
    result = await run_demo(rt, at(2026, 11, 23, 8, 30), days=2, on_progress=seen.append)
    assert len(seen) == result.flow_runs > result.sweeps > 0
    by_title = {story.title: case for story, case in result.cases}
    assert all(c.status == "closed" for c in by_title.values()), {
        t: c.status for t, c in by_title.items()
    }
    rerouted = by_title["tier 3: returned, re-routed"]
    assert rerouted.return_count == 1 and rerouted.assignee != rerouted.lead_department
    assert by_title["tier 3: extension granted"].extension_count == 1
    overdue = by_title["tier 3: overdue, answered late"]
    ladder = [
        e.kind
        for e in rt.book.trail(overdue.case_no)
        if e.kind in ("reminded", "supervised", "escalated")
    ]
    assert ladder[:3] == ["reminded", "supervised", "escalated"] and overdue.overdue
    assert by_title["tier 3: review failed, rework"].rework_count == 1
    citizen = by_title["citizen: unsatisfied, reopened"]
    assert citizen.rating == "satisfied" and citizen.rework_count == 1
    fixed = by_title["tier 1: fixed on the spot"]
    kinds = [e.kind for e in rt.book.trail(fixed.case_no)]
    assert fixed.tier == 1 and kinds[-3:] == ["review_started", "review_passed", "closed"]
    assert by_title["tier 2: community"].assignee == "COMMUNITY"
    assert result.sweep_actions >= 3


@pytest.mark.parametrize(
    ("now", "days", "start"),
    [
        (at(2026, 11, 23, 12, 0), 3, at(2026, 11, 16, 8, 30)),  # Monday: last week's Monday
        (at(2026, 11, 26, 9, 0), 3, at(2026, 11, 23, 8, 30)),  # Thursday 09:00: this week's
        (at(2026, 11, 26, 8, 0), 3, at(2026, 11, 16, 8, 30)),  # … but not before 08:30
        (at(2026, 11, 28, 9, 0), 10, at(2026, 11, 16, 8, 30)),
    ],
)
def test_the_demo_simulates_days_that_have_passed(
    now: datetime, days: int, start: datetime
) -> None:
    got = demo_start(now, days)
    assert got == start and got.weekday() == 0
