"""The bulk 督办 sweep on the ledger: ladder steps, once only, cost follows what is due."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from gridgov.boards.query import read_board
from gridgov.domain.deadlines import moment_at_fraction
from gridgov.domain.enums import Role, Source, Tier, TimeUnit
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.exchange.export import export_ledger
from gridgov.ledger import fastrows, timers
from gridgov.ledger.models import Case, CaseEvent, Notification
from gridgov.ledger.supervision import DIGEST, sweep
from gridgov.runtime import Runtime
from tests.conftest import at


def _open_dispatched(rt: Runtime, n: int, start_hour: int = 9) -> list[str]:
    item = next(
        i
        for i in sorted(rt.catalog.in_force(at(2026, 11, 23).date()), key=lambda i: i.code)
        if i.tier == Tier.DEPARTMENT and Source.PATROL in i.sources
    )
    grid = min((u for u in rt.catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    out = []
    for k in range(n):
        t = at(2026, 11, 23, start_hour, k)
        c = rt.book.open_case(
            {"item_code": item.code, "community": grid.parent, "source": "patrol", "reporter": "p"},
            Actor(Role.PATROLLER, "p"),
            t,
            f"o{start_hour}-{k}",
        ).case
        rt.book.act(c.case_no, EventKind.DISPATCHED, Actor(Role.DISPATCHER, "d"), t, f"d{c.id}")
        out.append(c.case_no)
    return out


def _events(rt: Runtime, kind: str) -> int:
    with rt.book.factory() as s:
        return (
            s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == kind)) or 0
        )


def test_sweep_walks_the_ladder_once_per_step(runtime: Runtime) -> None:
    nos = _open_dispatched(runtime, 3)
    c = runtime.book.get(nos[0])
    assert c.clock_due is not None and c.next_sweep_at is not None
    unit = TimeUnit(runtime.catalog.version(c.item_code, c.item_version).deadlines.acknowledge.unit)
    m80 = moment_at_fraction(runtime.calendar, c.opened_at, c.clock_due, unit, 0.8)
    assert c.next_sweep_at == m80
    assert sweep(runtime.book, m80 - timedelta(seconds=1)) == []
    first = sweep(runtime.book, m80)
    assert [a.case_no for a in first] == [nos[0]] and first[0].step == "reminded"
    assert sweep(runtime.book, m80) == []  # same moment again: nothing more
    late = c.clock_due + timedelta(days=5)  # a sweep that ran late catches up all steps
    actions = sweep(runtime.book, late)
    steps = {(a.case_no, a.step) for a in actions}
    assert (nos[0], "supervised") in steps and (nos[0], "escalated") in steps
    assert (nos[1], "reminded") in steps  # the other cases' whole ladders
    assert _events(runtime, "reminded") == 3 and _events(runtime, "escalated") == 3
    after = runtime.book.get(nos[0])
    assert after.overdue and after.supervision_level == "escalated"
    assert after.next_sweep_at is None  # top of the ladder: no more sweeps for this clock
    seqs = [e.seq for e in runtime.book.trail(nos[0])]
    assert seqs == list(range(1, len(seqs) + 1))


def test_answer_moves_the_case_to_a_new_clock(runtime: Runtime) -> None:
    no = _open_dispatched(runtime, 1)[0]
    c = runtime.book.get(no)
    assert c.clock_due is not None
    sweep(runtime.book, c.clock_due)  # reminded + supervised on the acknowledge clock
    item = runtime.catalog.version(c.item_code, c.item_version)
    runtime.book.act(
        no,
        EventKind.ACKNOWLEDGED,
        Actor(Role.DEPARTMENT, "o", department=item.lead_department),
        c.clock_due + timedelta(minutes=1),
        "ack",
    )
    after = runtime.book.get(no)
    assert after.clock_kind == "arrive" and after.supervision_level is None
    assert after.overdue  # being late once stays on the record


def test_only_due_cases_are_read(runtime: Runtime) -> None:
    """The sweep reads due timers through ix_timers_due: not-yet-due cases are untouched."""
    early = _open_dispatched(runtime, 2, start_hour=9)
    later = _open_dispatched(runtime, 5, start_hour=15)
    c = runtime.book.get(early[0])
    assert c.next_sweep_at is not None
    acted = sweep(runtime.book, c.next_sweep_at + timedelta(minutes=2))
    assert {a.case_no for a in acted} <= set(early)
    assert all(runtime.book.get(n).supervision_level is None for n in later)
    if runtime.engine.dialect.name == "sqlite":
        from sqlalchemy import text

        with runtime.engine.connect() as conn:
            plan = " ".join(
                str(r[-1])
                for r in conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT case_id FROM timers WHERE due <= :now "
                        "ORDER BY due, case_id LIMIT 100"
                    ),
                    {"now": "2026-11-23 09:00:00"},
                )
            )
        assert "ix_timers_due" in plan and "TEMP B-TREE" not in plan, plan


def _row(rt: Runtime, case_no: str) -> dict[str, object]:
    with rt.engine.connect() as conn:
        return dict(
            conn.execute(select(Case.__table__).where(Case.case_no == case_no)).one()._mapping
        )


def test_a_reminder_moves_the_timer_not_the_case_row(runtime: Runtime, tmp_path: Path) -> None:
    """Before the deadline the sweep writes the step's event, notices and the timer; the
    case row changes only at 督办 (overdue flag, level). Readers see the reminder anyway."""
    no = _open_dispatched(runtime, 1)[0]
    item = runtime.catalog.version(runtime.book.get(no).item_code, 1)
    dept = Actor(Role.DEPARTMENT, "o", department=item.lead_department)
    runtime.book.act(no, EventKind.ACKNOWLEDGED, dept, at(2026, 11, 23, 9, 5), "ack-r")
    c = runtime.book.get(no)
    assert c.next_sweep_at is not None and c.clock_due is not None and c.clock_kind == "arrive"
    before = _row(runtime, no)
    assert [a.step for a in sweep(runtime.book, c.next_sweep_at)] == ["reminded"]
    assert _row(runtime, no) == before  # not written: nothing a reader sees of it changed
    with runtime.engine.connect() as conn:
        timer = timers.of_cases(conn, [c.id])[c.id]
    assert timer[1:] == (c.clock_kind, 1, c.clock_due)  # next: the 督办 at 100 %
    seen = runtime.book.get(no)
    assert (seen.supervision_level, seen.next_sweep_at) == ("reminded", c.clock_due)
    with runtime.book.factory() as s:
        board = read_board(s, runtime.calendar, c.next_sweep_at + timedelta(minutes=1))
    assert board.counts == {"reminded": 1} and board.entries[0].next_sweep_at == c.clock_due
    export_ledger(runtime.engine, runtime.calendar.tz, "csv", tmp_path / "x", now=c.clock_due)
    out = pd.read_csv(tmp_path / "x" / "cases.csv", dtype=str).iloc[0]
    assert (out["supervision_level"], out["ladder_done"]) == ("reminded", "1")
    assert pd.Timestamp(out["next_sweep_at"]) == c.clock_due
    # A command on the reminded case starts from the ladder as it stands: no second reminder.
    asked = runtime.book.act(
        no,
        EventKind.EXTENSION_REQUESTED,
        dept,
        c.next_sweep_at + timedelta(minutes=1),
        "ask-1",
        {"amount": 1, "unit": "working_days", "reason": "waiting for parts"},
    ).case
    assert (asked.supervision_level, asked.next_sweep_at) == ("reminded", c.clock_due)
    asked_row = _row(runtime, no)
    assert asked_row["extension_pending"] and asked_row["ladder_done"] == 0  # the clock stays
    assert sweep(runtime.book, c.clock_due - timedelta(seconds=1)) == []
    supervised = sweep(runtime.book, c.clock_due)
    assert [a.step for a in supervised] == ["supervised"]
    after = _row(runtime, no)
    assert after["overdue"] and after["supervision_level"] == "supervised"
    assert after["row_version"] == asked_row["row_version"] + 1 and after["ladder_done"] == 2
    assert _events(runtime, "reminded") == 1 and _events(runtime, "supervised") == 1


@pytest.mark.parametrize("copy_from", [200, 1])  # 1: events and notices by COPY on PostgreSQL
def test_notices_of_one_sweep_are_one_digest_per_recipient(
    runtime: Runtime, copy_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastrows, "COPY_FROM", copy_from)
    nos = _open_dispatched(runtime, 3)
    last = runtime.book.get(nos[-1])
    assert last.clock_due is not None
    with runtime.book.factory() as s:
        s.query(Notification).delete()  # the dispatch notices: not what this test counts
        s.commit()
    actions = sweep(runtime.book, last.clock_due)  # reminder and 督办 of all three
    assert len(actions) == 6 and _events(runtime, "reminded") == 3
    with runtime.book.factory() as s:
        notes = s.scalars(select(Notification)).all()
    assert len(notes) == 1  # the three cases' handler: one digest of six notices
    digest = notes[0]
    assert digest.kind == DIGEST and digest.case_id is None
    assert digest.recipient == f"department:{last.assignee}"
    listed = digest.body["notices"]
    assert digest.body["count"] == len(listed) == 6
    assert {(n["kind"], n["case_no"]) for n in listed} >= {("reminded", x) for x in nos}
    assert all(n["clock"] == last.clock_kind for n in listed)
    trail = runtime.book.trail(nos[0])
    assert [e.kind for e in trail][-2:] == ["reminded", "supervised"]  # each case its own
    assert (trail[-2].payload["step"], trail[-1].payload["step"]) == (0, 1)


def test_evaluating_has_a_callback_clock_the_sweep_watches(runtime: Runtime) -> None:
    """Every waiting state has a clock (issue 12): a case waiting for the citizen's callback
    is reminded, supervised and escalated like any other, and the dispatch centre is told."""
    from gridgov.ledger.models import Notification
    from tests.test_casebook import PATROLLER, REVIEWER, new_case, pick

    cat, book = runtime.catalog, runtime.book
    no = book.open_case(new_case(cat, pick(cat, 1)), PATROLLER, at(2026, 11, 23, 9), "o").case
    handled = at(2026, 11, 23, 9, 10)
    book.act(no.case_no, EventKind.HANDLED, PATROLLER, handled, "h", {"evidence": ["photo://x"]})
    book.act(no.case_no, EventKind.REVIEW_STARTED, REVIEWER, at(2026, 11, 23, 10), "rs")
    passed = at(2026, 11, 23, 11)
    c = book.act(no.case_no, EventKind.REVIEW_PASSED, REVIEWER, passed, "rp").case
    assert c.status == "evaluating" and c.clock_kind == "callback"
    assert c.clock_due == passed + timedelta(hours=24)  # the citizen promise
    assert c.next_sweep_at == moment_at_fraction(
        runtime.calendar, handled, c.clock_due, TimeUnit.HOURS, 0.8
    )
    steps = sweep(runtime.book, c.clock_due + timedelta(days=2))
    assert [a.step for a in steps] == ["reminded", "supervised", "escalated"]
    after = runtime.book.get(no.case_no)
    assert after.overdue and after.next_sweep_at is None
    with runtime.book.factory() as s:
        told = set(
            s.scalars(select(Notification.recipient).where(Notification.case_id == after.id)).all()
        )
    assert f"dispatcher:{after.community_code}" in told
    assert not any(r.startswith(("department:", "community:")) for r in told), told
