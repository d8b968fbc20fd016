"""The case book on SQLite and PostgreSQL: commands, rules, idempotency, nothing stored on error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gridgov.domain.enums import CaseStatus, Role, Source
from gridgov.domain.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    UnknownItem,
)
from gridgov.domain.lifecycle import SYSTEM, Actor, EventKind
from gridgov.item_catalog.loader import Catalog
from gridgov.item_catalog.models import Item
from gridgov.ledger.casebook import allocate_case_number_blocks
from gridgov.ledger.models import Case, CaseEvent
from gridgov.runtime import Runtime
from tests.conftest import at

K = EventKind
DISPATCHER = Actor(Role.DISPATCHER, "street-centre")
REVIEWER = Actor(Role.REVIEWER, "reviewer-1")
PATROLLER = Actor(Role.PATROLLER, "grid-worker-7")


def pick(catalog: Catalog, tier: int, source: Source = Source.PATROL) -> Item:
    day = at(2026, 11, 23).date()
    return next(
        i
        for i in sorted(catalog.in_force(day), key=lambda i: i.code)
        if i.tier == tier and source in i.sources
    )


def place(catalog: Catalog) -> dict[str, Any]:
    grid = min((u for u in catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    assert grid.parent is not None
    return {"community": grid.parent, "grid": grid.code}


def new_case(catalog: Catalog, item: Item, **over: Any) -> dict[str, Any]:
    data = {
        "item_code": item.code,
        "source": Source.PATROL.value,
        "reporter": "grid-worker-7",
        "description": "seen on patrol",
        **place(catalog),
    }
    data.update(over)
    return data


def counts(rt: Runtime) -> tuple[int, int]:
    with rt.book.factory() as s:
        return (
            s.scalar(select(func.count()).select_from(Case)) or 0,
            s.scalar(select(func.count()).select_from(CaseEvent)) or 0,
        )


def test_open_case_numbers_deadlines_and_trail(runtime: Runtime) -> None:
    item = pick(runtime.catalog, 3)
    r1 = runtime.book.open_case(
        new_case(runtime.catalog, item), PATROLLER, at(2026, 11, 23, 9, 0), "k1"
    )
    r2 = runtime.book.open_case(
        new_case(runtime.catalog, item), PATROLLER, at(2026, 11, 23, 9, 5), "k2"
    )
    assert r1.case.case_no == "C20261123-000001"
    assert r2.case.case_no == "C20261123-000002"
    assert r1.case.status == CaseStatus.REPORTED
    assert r1.case.item_version == item.version
    assert r1.case.handle_due is not None and r1.case.handle_due > r1.case.opened_at
    assert r1.case.next_sweep_at is not None
    trail = runtime.book.trail(r1.case.case_no)
    assert [e.kind for e in trail] == ["created"]
    assert trail[0].actor == "grid-worker-7" and trail[0].role == "patroller"


def test_case_number_blocks_for_many_days_continue_each_days_counter(runtime: Runtime) -> None:
    """Bulk writers reserve blocks for all a chunk's days at once; a day's numbers continue
    from whoever reserved before (case book, earlier block) and the next one continues them."""
    item = pick(runtime.catalog, 3)
    first = runtime.book.open_case(
        new_case(runtime.catalog, item), PATROLLER, at(2026, 11, 23, 9, 0), "k1"
    )
    assert first.case.case_no == "C20261123-000001"
    with runtime.book.factory() as s, s.begin():
        blocks = allocate_case_number_blocks(s, {"20261124": 2, "20261123": 3, "20261125": 0})
        again = allocate_case_number_blocks(s, {"20261124": 1})
    assert blocks == {
        "20261123": ["C20261123-000002", "C20261123-000003", "C20261123-000004"],
        "20261124": ["C20261124-000001", "C20261124-000002"],
    }
    assert again == {"20261124": ["C20261124-000003"]}
    later = runtime.book.open_case(
        new_case(runtime.catalog, item), PATROLLER, at(2026, 11, 23, 10, 0), "k2"
    )
    assert later.case.case_no == "C20261123-000005"


def test_department_path_with_return_reroute_extension_review(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    item = pick(cat, 3)
    other = next(d for d in sorted(cat.departments) if d not in (item.lead_department, "COMMUNITY"))
    no = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9), "o").case.case_no
    lead = Actor(Role.DEPARTMENT, "duty-officer", department=item.lead_department)
    oth = Actor(Role.DEPARTMENT, "officer-b", department=other)
    book.act(no, K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 9, 5), "d")
    book.act(no, K.RETURNED, lead, at(2026, 11, 23, 9, 30), "r", {"reason": "not ours"})
    rr = book.act(
        no,
        K.REROUTED,
        DISPATCHER,
        at(2026, 11, 23, 10),
        "rr",
        {"department": other, "reason": "belongs to them"},
    )
    assert rr.case.assignee == other and rr.case.return_count == 1
    with pytest.raises(NotPermitted):  # the first department no longer holds the case
        book.act(no, K.ACKNOWLEDGED, lead, at(2026, 11, 23, 10, 5), "ack-wrong")
    book.act(no, K.ACKNOWLEDGED, oth, at(2026, 11, 23, 10, 10), "a")
    book.act(no, K.ARRIVED, oth, at(2026, 11, 23, 10, 40), "ar")
    before = book.get(no).handle_due
    book.act(
        no,
        K.EXTENSION_REQUESTED,
        oth,
        at(2026, 11, 23, 11),
        "er",
        {"amount": 2, "unit": "working_days", "reason": "parts on order"},
    )
    g = book.act(no, K.EXTENSION_GRANTED, DISPATCHER, at(2026, 11, 23, 11, 30), "eg")
    assert g.case.extension_count == 1 and not g.case.extension_pending
    assert g.case.handle_due is not None and before is not None and g.case.handle_due > before
    book.act(no, K.HANDLED, oth, at(2026, 11, 24, 15), "h", {"evidence": ["photo://after/1"]})
    book.act(no, K.REVIEW_STARTED, REVIEWER, at(2026, 11, 24, 15, 30), "rs")
    f = book.act(
        no, K.REVIEW_FAILED, REVIEWER, at(2026, 11, 24, 16), "rf", {"reason": "still leaking"}
    )
    assert f.case.status == CaseStatus.REWORK and f.case.rework_count == 1
    book.act(no, K.HANDLED, oth, at(2026, 11, 25, 10), "h2", {"evidence": ["photo://after/2"]})
    book.act(no, K.REVIEW_STARTED, REVIEWER, at(2026, 11, 25, 10, 30), "rs2")
    book.act(no, K.REVIEW_PASSED, REVIEWER, at(2026, 11, 25, 11), "rp")
    c = book.act(no, K.CLOSED, SYSTEM, at(2026, 11, 25, 11), "c")
    assert c.case.status == CaseStatus.CLOSED and c.case.closed_at is not None
    assert c.case.next_sweep_at is None
    kinds = [e.kind for e in book.trail(no)]
    assert kinds == [
        "created",
        "dispatched",
        "returned",
        "rerouted",
        "acknowledged",
        "arrived",
        "extension_requested",
        "extension_granted",
        "handled",
        "review_started",
        "review_failed",
        "handled",
        "review_started",
        "review_passed",
        "closed",
    ]
    assert [e.seq for e in book.trail(no)] == list(range(1, 16))


def test_field_fix_closes_without_review_only_for_tier1(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    t1 = pick(cat, 1)
    no = book.open_case(new_case(cat, t1), PATROLLER, at(2026, 11, 23, 9), "o1").case.case_no
    book.act(
        no, K.HANDLED, PATROLLER, at(2026, 11, 23, 9, 10), "h1", {"evidence": ["photo://fixed"]}
    )
    closed = book.act(no, K.CLOSED, SYSTEM, at(2026, 11, 23, 9, 11), "c1")
    assert closed.case.status == CaseStatus.CLOSED and closed.case.spot_check is False
    t2 = pick(cat, 2)
    no2 = book.open_case(new_case(cat, t2), PATROLLER, at(2026, 11, 23, 9), "o2").case.case_no
    with pytest.raises(InvalidTransition):
        book.act(
            no2, K.HANDLED, PATROLLER, at(2026, 11, 23, 9, 10), "h2", {"evidence": ["photo://x"]}
        )


def test_refused_commands_write_nothing(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    item = pick(cat, 3)
    no = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9), "o").case.case_no
    before = counts(runtime)
    lead = Actor(Role.DEPARTMENT, "x", department=item.lead_department)
    with pytest.raises(InvalidTransition) as e1:  # not dispatched yet
        book.act(no, K.ACKNOWLEDGED, lead, at(2026, 11, 23, 9, 1), "bad1")
    assert e1.value.field == "status"
    with pytest.raises(NotPermitted):  # a department may not dispatch
        book.act(no, K.DISPATCHED, lead, at(2026, 11, 23, 9, 1), "bad2")
    with pytest.raises(InvalidInput) as e3:  # payload checked, names the field
        book.act(
            no, K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 9, 1), "bad3", {"department": "NOPE"}
        )
    assert e3.value.field == "payload.department"
    with pytest.raises(InvalidInput) as e4:  # time may not run backwards on a case
        book.act(no, K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 8), "bad4")
    assert e4.value.field == "at"
    with pytest.raises(NotFound):
        book.act("C20000101-000001", K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 9), "bad5")
    community = Actor(Role.COMMUNITY, "sq", community="NOT-MINE")
    with pytest.raises(NotPermitted):
        book.act(no, K.DISPATCHED, community, at(2026, 11, 23, 9, 1), "bad6")
    assert counts(runtime) == before
    assert book.get(no).status == CaseStatus.REPORTED


def test_bad_new_cases_store_nothing(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    item = pick(cat, 3)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        (new_case(cat, item, item_code="ZZ-NOPE-001"), UnknownItem, "item_code"),
        (new_case(cat, item, community="NOWHERE"), InvalidInput, "community"),
        (new_case(cat, item, lat=91.0), InvalidInput, "lat"),
        (new_case(cat, item, source="pigeon"), InvalidInput, "source"),
        (new_case(cat, item, description="x" * 4001), InvalidInput, "description"),
        (new_case(cat, item, reporter=""), InvalidInput, "reporter"),
    ]
    for data, exc, field in cases:
        with pytest.raises(exc) as info:
            book.open_case(data, PATROLLER, at(2026, 11, 23, 9), f"bad-{field}")
        assert info.value.field == field, (field, info.value)  # type: ignore[attr-defined]
    assert counts(runtime) == (0, 0)


def test_idempotent_replay_and_conflict(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    item = pick(cat, 3)
    first = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9), "same")
    again = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9, 1), "same")
    assert again.replayed and again.case.case_no == first.case.case_no
    no = first.case.case_no
    d1 = book.act(no, K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 9, 5), "disp")
    d2 = book.act(no, K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 9, 6), "disp")
    assert not d1.replayed and d2.replayed and d2.event.seq == d1.event.seq
    before = counts(runtime)
    with pytest.raises(IdempotencyConflict):
        book.act(no, K.CANCELLED, DISPATCHER, at(2026, 11, 23, 9, 7), "disp", {"reason": "x"})
    assert counts(runtime) == before == (1, 2)


def test_case_keeps_the_item_version_it_was_opened_under(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    multi = next(c for c in cat.codes if len(cat.versions(c)) > 1)
    v1, v2 = cat.versions(multi)[:2]
    assert v1.valid_to is not None
    src = v1.sources[0].value
    day_before = at(v1.valid_to.year, v1.valid_to.month, v1.valid_to.day, 9)
    old = book.open_case(
        new_case(cat, v1, source=src),
        Actor(Role.SYSTEM, "intake"),
        day_before - timedelta(days=1),
        "old",
    )
    new = book.open_case(
        new_case(cat, v2, source=v2.sources[0].value),
        Actor(Role.SYSTEM, "intake"),
        day_before,
        "new",
    )
    assert (old.case.item_version, new.case.item_version) == (v1.version, v2.version)
    assert book.get(old.case.case_no).item_version == v1.version


def test_dispatcher_refuses_a_return(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    item = pick(cat, 3)
    no = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9), "o").case.case_no
    lead = Actor(Role.DEPARTMENT, "duty", department=item.lead_department)
    book.act(no, K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 9, 5), "d")
    book.act(no, K.RETURNED, lead, at(2026, 11, 23, 9, 30), "r", {"reason": "not ours"})
    with pytest.raises(InvalidInput):  # a refusal needs its reason
        book.act(no, K.RETURN_REFUSED, DISPATCHER, at(2026, 11, 23, 10), "rf0")
    refused = book.act(
        no,
        K.RETURN_REFUSED,
        DISPATCHER,
        at(2026, 11, 23, 10),
        "rf",
        {"reason": "this is within your remit"},
    )
    assert refused.case.status == CaseStatus.DISPATCHED
    assert refused.case.assignee == item.lead_department and refused.case.return_count == 1
    assert refused.case.clock_kind == "acknowledge"
    book.act(no, K.ACKNOWLEDGED, lead, at(2026, 11, 23, 10, 5), "a")  # back with them


def test_extension_grant_payload_is_checked(runtime: Runtime) -> None:
    cat, book = runtime.catalog, runtime.book
    item = pick(cat, 3)
    no = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9), "o").case.case_no
    lead = Actor(Role.DEPARTMENT, "duty", department=item.lead_department)
    for n, kind in enumerate((K.DISPATCHED, K.ACKNOWLEDGED, K.ARRIVED)):
        book.act(no, kind, DISPATCHER if n == 0 else lead, at(2026, 11, 23, 9, 10 + n), f"s{n}")
    book.act(
        no,
        K.EXTENSION_REQUESTED,
        lead,
        at(2026, 11, 23, 10),
        "er",
        {"amount": 4, "unit": "working_hours", "reason": "rain"},
    )
    with pytest.raises(InvalidInput) as bad:
        book.act(
            no,
            K.EXTENSION_GRANTED,
            DISPATCHER,
            at(2026, 11, 23, 10, 5),
            "eg0",
            {"amount": 2, "unit": "fortnights"},
        )
    assert bad.value.field == "payload.unit"
    with pytest.raises(InvalidInput):
        book.act(
            no, K.EXTENSION_GRANTED, DISPATCHER, at(2026, 11, 23, 10, 5), "eg1", {"surprise": True}
        )
    granted = book.act(
        no,
        K.EXTENSION_GRANTED,
        DISPATCHER,
        at(2026, 11, 23, 10, 5),
        "eg",
        {"amount": 2, "unit": "working_hours"},
    )
    assert granted.event.payload["amount"] == 2 and granted.case.extension_count == 1
