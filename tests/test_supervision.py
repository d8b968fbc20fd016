"""The bulk 督办 sweep on the ledger: ladder steps, once only, cost follows what is due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from gridgov.domain.deadlines import moment_at_fraction
from gridgov.domain.enums import Role, Source, Tier, TimeUnit
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.ledger.models import CaseEvent
from gridgov.ledger.supervision import sweep
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
    """The sweep reads through the next_sweep_at index: not-yet-due cases are untouched."""
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
                        "EXPLAIN QUERY PLAN SELECT id FROM cases WHERE next_sweep_at <= :now "
                        "ORDER BY next_sweep_at LIMIT 100"
                    ),
                    {"now": "2026-11-23 09:00:00"},
                )
            )
        assert "ix_cases_next_sweep_at" in plan, plan


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
