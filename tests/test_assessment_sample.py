"""A small hand-made district and an October 2026 of cases for the assessment and audit tests.

The catalogue is our own (not the shipped one), so every time limit below is known:
office hours 08:30–12:00 and 14:00–18:00 (7.5 working hours a day); October 1–7 2026 are
holidays, Saturday October 10 is a make-up workday.

Stories (all times Asia/Shanghai; "wh" = working hours; ZT-DEP: acknowledge 1 wh, arrive
2 wh, handle 8 wh):

A  ZT-DEP → ZCG, patrol, C1/G11. Dispatched Mon 12 Oct 09:00 (ack due 10:00, arrive due
   11:00, handle due Tue 13 09:30). Ack 09:30, ZSC assists 10:15, arrive 10:30, handled 15:00
   (4.0 wh after dispatch), review passed and closed 16:00. On time.
B  ZT-DEP → ZCG, citizen, C1/G11. Dispatched Tue 13 Oct 09:00. Ack 10:30 (late), arrive 14:30
   (late, due 11:00), extension asked 15:00 and refused 15:30, handled Wed 14 15:00 (due 09:30:
   late; 11.5 wh), review passed 16:00, rated basically satisfied and closed Thu 15 10:00.
C  ZT-DEP → ZCG, patrol, C1/G12. Dispatched Wed 14 Oct 09:00, returned by ZCG 09:20, re-routed
   to ZSC 10:00 (handle due Thu 15 10:30). ZSC: ack 10:30, arrive 11:30, extension of 8 wh
   asked 14:30 and granted 15:00 (due Fri 16 11:00), handled Fri 16 09:00 (14.0 wh after the
   re-route), closed 10:00. On time only thanks to the extension.
D  ZT-DEP → ZCG, patrol, C1/G12. Dispatched Mon 26 Oct 09:00, ack 09:30, arrive 10:00, never
   handled (due Tue 27 09:30): open and overdue at the end of October.
E  ZT-DEP → ZCG, patrol, C2/G21. Dispatched Fri 30 Oct 17:00 (ack due 18:00, arrive due Mon
   2 Nov 09:30, handle due Mon 2 Nov 17:30). Ack 17:30; arrive Mon 2 Nov 09:00, handled 11:00,
   closed 11:30. Its acknowledgement counts in October, the rest in November.
F  ZT-FIX field fix (handle 2 wh) in C1/G11 by patroller-1: reported Sat 31 Oct 23:00, fixed
   23:10, closed 23:20 local — October.
G  The same on Sun 1 Nov 00:10–00:30 local, which is still 31 Oct in UTC — November.
H  ZT-COM community case (acknowledge 2 wh, handle 8 wh), citizen, C1/G11. Dispatched Mon 19
   Oct 09:00 to the community team, ack 09:30, handled 11:00, review passed 11:30, rated
   unsatisfied 14:00 → reopened (handle due Tue 20 14:30), handled 16:00, review passed 17:00,
   rated satisfied and closed Tue 20 09:00. On time; 2 handlings, 1 rework.
I  ZT-VER v1 (handle 16 wh; opened 14 Oct, before v2 starts on 15 Oct) → ZHB, patrol, C3/G31
   (street S2). Dispatched Wed 14 Oct 09:00 (handle due Fri 16 10:00). Ack 09:20, arrive 10:00,
   handled 15:00, review failed 16:00 (due reset to Fri 16 17:00), handled Thu 15 10:00, review
   passed and closed 11:00. On time; 2 handlings, 1 rework.
J  ZT-DEP → ZCG, C2/G21: dispatched Tue 20 Oct 09:00, cancelled 09:30. Counts nowhere.
K  ZT-DEP → ZCG, C2/G21: dispatched Wed 28 Oct 09:00, returned by ZCG 09:30 and never
   re-routed (handle due reset to Thu 29 10:00): due and overdue in October, charged to no
   department.
L  ZT-DEP → ZCG, C3/G31: dispatched Tue 29 Sep 09:00 (handle due Wed 30 Sep 09:30), ack 09:30,
   arrive 10:00, handled Fri 9 Oct 10:00 (late), closed 11:00. Overdue in September, closed
   late in October.
M  ZT-DEP → ZCG, C3/G31: dispatched Wed 30 Sep 16:00, handle due Thu 8 Oct 16:30 (over the
   holiday); ack 16:10, arrive 16:30, handled 17:00, closed 17:30 on 30 Sep. Counts in
   September only, although its deadline is in October.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import SYSTEM, Actor, EventKind
from gridgov.item_catalog.loader import Catalog
from gridgov.item_catalog.models import Department, Item, TerritoryUnit
from gridgov.ledger.casebook import CaseBook
from gridgov.runtime import Runtime
from tests.conftest import at

K = EventKind
DISPATCHER = Actor(Role.DISPATCHER, "centre")
REVIEWER = Actor(Role.REVIEWER, "reviewer-1")
CITIZEN = Actor(Role.CITIZEN, "citizen-1")
PATROLLER = Actor(Role.PATROLLER, "patroller-1")
C1, C2, C3 = "ZQ-S1-C1", "ZQ-S1-C2", "ZQ-S2-C3"
G11, G12, G21, G31 = "ZQ-S1-C1-G1", "ZQ-S1-C1-G2", "ZQ-S1-C2-G1", "ZQ-S2-C3-G1"
DEPTS = ("ZCG", "ZSC", "ZHB")


def officer(dept: str) -> Actor:
    return Actor(Role.DEPARTMENT, f"officer-{dept.lower()}", department=dept)


def team(community: str) -> Actor:
    return Actor(Role.COMMUNITY, f"team-{community.lower()}", community=community)


def _limits(ack: float, handle: float, review: float, arrive: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "acknowledge": {"amount": ack, "unit": "working_hours"},
        "handle": {"amount": handle, "unit": "working_hours"},
        "review": {"amount": review, "unit": "working_hours"},
    }
    if arrive is not None:
        out["arrive"] = {"amount": arrive, "unit": "working_hours"}
    return out


def _item(code: str, tier: int, lead: str, **over: Any) -> Item:
    data: dict[str, Any] = {
        "code": code,
        "version": 1,
        "valid_from": date(2026, 1, 1),
        "name_zh": f"测试事项 {code}",
        "name_en": f"test item {code}",
        "family": "event",
        "category": "test",
        "subcategory": "test",
        "tier": tier,
        "lead_department": lead,
        "filing_condition": "seen",
        "closing_condition": "fixed",
        "evidence": ["photo"],
        "sources": ["patrol", "citizen"],
        "deadlines": _limits(1, 8, 8, 2 if tier == 3 else None),
    }
    data.update(over)
    return Item.model_validate(data)


def sample_catalog(shipped: Catalog) -> Catalog:
    items = (
        _item("ZT-FIX", 1, "COMMUNITY", sources=["patrol"], deadlines=_limits(1, 2, 8, None)),
        _item("ZT-COM", 2, "COMMUNITY", deadlines=_limits(2, 8, 8, None)),
        _item("ZT-DEP", 3, "ZCG", assisting_departments=["ZSC"]),
        _item("ZT-VER", 3, "ZHB", valid_to=date(2026, 10, 15), deadlines=_limits(1, 16, 8, 2)),
        _item("ZT-VER", 3, "ZHB", version=2, valid_from=date(2026, 10, 15)),
    )
    depts = {"COMMUNITY": shipped.departments["COMMUNITY"]} | {
        code: Department(code=code, name_zh=f"部门{code}", name_en=f"dept {code}") for code in DEPTS
    }
    units = [
        ("ZQ", "district", None),
        ("ZQ-S1", "street", "ZQ"),
        ("ZQ-S2", "street", "ZQ"),
        (C1, "community", "ZQ-S1"),
        (C2, "community", "ZQ-S1"),
        (C3, "community", "ZQ-S2"),
        (G11, "grid", C1),
        (G12, "grid", C1),
        (G21, "grid", C2),
        (G31, "grid", C3),
    ]
    territory = {
        code: TerritoryUnit(code=code, kind=kind, name_zh=code, name_en=code, parent=parent)
        for code, kind, parent in units
    }
    return Catalog(items, depts, territory, Path("tests/sample"))


@dataclass
class Ledger:
    """A runtime on our sample catalogue, and helpers to script cases with explicit times."""

    rt: Runtime
    keys: int = 0

    @property
    def book(self) -> CaseBook:
        return self.rt.book

    def _key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def open(
        self,
        item: str,
        community: str,
        grid: str | None,
        when: datetime,
        *,
        source: str = "patrol",
        reporter: Actor = PATROLLER,
    ) -> str:
        new = {
            "item_code": item,
            "community": community,
            "grid": grid,
            "source": source,
            "reporter": reporter.name,
        }
        return self.book.open_case(new, reporter, when, self._key()).case.case_no

    def do(
        self, case_no: str, kind: EventKind, actor: Actor, when: datetime, **payload: Any
    ) -> None:
        self.book.act(case_no, kind, actor, when, self._key(), payload or None)

    def dispatch(self, no: str, when: datetime, dept: str | None = None) -> None:
        self.do(no, K.DISPATCHED, DISPATCHER, when, **({"department": dept} if dept else {}))

    def handle(self, no: str, who: Actor, when: datetime) -> None:
        self.do(no, K.HANDLED, who, when, evidence=["photo://done"])

    def review(self, no: str, when: datetime, *, passed: bool = True) -> None:
        self.do(no, K.REVIEW_STARTED, SYSTEM, when)
        if passed:
            self.do(no, K.REVIEW_PASSED, REVIEWER, when)
        else:
            self.do(no, K.REVIEW_FAILED, REVIEWER, when, reason="not fixed")

    def close(self, no: str, when: datetime) -> None:
        self.do(no, K.CLOSED, SYSTEM, when)

    def department_case(
        self,
        dept: str,
        community: str,
        grid: str | None,
        opened: datetime,
        *,
        ack: datetime,
        arrive: datetime,
        handled: datetime | None = None,
        closed: datetime | None = None,
        item: str = "ZT-DEP",
    ) -> str:
        """A plain tier-3 case: report, dispatch at once, acknowledge, arrive, handle,
        review and close (patrol source: no callback)."""
        no = self.open(item, community, grid, opened)
        self.dispatch(no, opened, dept)
        self.do(no, K.ACKNOWLEDGED, officer(dept), ack)
        self.do(no, K.ARRIVED, officer(dept), arrive)
        if handled is not None:
            self.handle(no, officer(dept), handled)
        if closed is not None:
            self.review(no, closed)
            self.close(no, closed)
        return no


def build_october(lg: Ledger) -> dict[str, str]:
    """Write the stories of the module docstring; return {story letter: case number}."""
    c: dict[str, str] = {}
    # L and M: September cases (for the carry-over rules).
    c["L"] = lg.department_case(
        "ZCG",
        C3,
        G31,
        at(2026, 9, 29, 9),
        ack=at(2026, 9, 29, 9, 30),
        arrive=at(2026, 9, 29, 10),
        handled=at(2026, 10, 9, 10),
        closed=at(2026, 10, 9, 11),
    )
    c["M"] = lg.department_case(
        "ZCG",
        C3,
        G31,
        at(2026, 9, 30, 16),
        ack=at(2026, 9, 30, 16, 10),
        arrive=at(2026, 9, 30, 16, 30),
        handled=at(2026, 9, 30, 17),
        closed=at(2026, 9, 30, 17, 30),
    )
    c["N"] = lg.open("ZT-FIX", C2, G21, at(2026, 9, 26, 10))
    # A: on time, with ZSC assisting.
    a = c["A"] = lg.open("ZT-DEP", C1, G11, at(2026, 10, 12, 9))
    lg.dispatch(a, at(2026, 10, 12, 9))
    lg.do(a, K.ACKNOWLEDGED, officer("ZCG"), at(2026, 10, 12, 9, 30))
    lg.do(a, K.ASSISTED, officer("ZSC"), at(2026, 10, 12, 10, 15))
    lg.do(a, K.ARRIVED, officer("ZCG"), at(2026, 10, 12, 10, 30))
    lg.handle(a, officer("ZCG"), at(2026, 10, 12, 15))
    lg.review(a, at(2026, 10, 12, 16))
    lg.close(a, at(2026, 10, 12, 16))
    # B: late everywhere, extension refused, citizen basically satisfied.
    b = c["B"] = lg.open("ZT-DEP", C1, G11, at(2026, 10, 13, 9), source="citizen", reporter=CITIZEN)
    lg.dispatch(b, at(2026, 10, 13, 9))
    lg.do(b, K.ACKNOWLEDGED, officer("ZCG"), at(2026, 10, 13, 10, 30))
    lg.do(b, K.ARRIVED, officer("ZCG"), at(2026, 10, 13, 14, 30))
    lg.do(
        b,
        K.EXTENSION_REQUESTED,
        officer("ZCG"),
        at(2026, 10, 13, 15),
        amount=2,
        unit="working_hours",
        reason="parts",
    )
    lg.do(b, K.EXTENSION_REFUSED, DISPATCHER, at(2026, 10, 13, 15, 30), reason="no")
    lg.handle(b, officer("ZCG"), at(2026, 10, 14, 15))
    lg.review(b, at(2026, 10, 14, 16))
    lg.do(b, K.RATED, CITIZEN, at(2026, 10, 15, 10), rating="basically_satisfied")
    lg.close(b, at(2026, 10, 15, 10))
    # C: returned by ZCG, re-routed to ZSC, extended, on time thanks to the extension.
    cc = c["C"] = lg.open("ZT-DEP", C1, G12, at(2026, 10, 14, 9))
    lg.dispatch(cc, at(2026, 10, 14, 9))
    lg.do(cc, K.RETURNED, officer("ZCG"), at(2026, 10, 14, 9, 20), reason="not ours")
    lg.do(cc, K.REROUTED, DISPATCHER, at(2026, 10, 14, 10), department="ZSC", reason="market")
    lg.do(cc, K.ACKNOWLEDGED, officer("ZSC"), at(2026, 10, 14, 10, 30))
    lg.do(cc, K.ARRIVED, officer("ZSC"), at(2026, 10, 14, 11, 30))
    lg.do(
        cc,
        K.EXTENSION_REQUESTED,
        officer("ZSC"),
        at(2026, 10, 14, 14, 30),
        amount=8,
        unit="working_hours",
        reason="supplier",
    )
    lg.do(cc, K.EXTENSION_GRANTED, DISPATCHER, at(2026, 10, 14, 15))
    lg.handle(cc, officer("ZSC"), at(2026, 10, 16, 9))
    lg.review(cc, at(2026, 10, 16, 10))
    lg.close(cc, at(2026, 10, 16, 10))
    # D: open and overdue at the month's end.
    c["D"] = lg.department_case(
        "ZCG",
        C1,
        G12,
        at(2026, 10, 26, 9),
        ack=at(2026, 10, 26, 9, 30),
        arrive=at(2026, 10, 26, 10),
    )
    # E: acknowledged in October, due and closed in November.
    e = c["E"] = lg.open("ZT-DEP", C2, G21, at(2026, 10, 30, 17))
    lg.dispatch(e, at(2026, 10, 30, 17))
    lg.do(e, K.ACKNOWLEDGED, officer("ZCG"), at(2026, 10, 30, 17, 30))
    # F and G: field fixes either side of midnight, local time.
    for key, t0 in (("F", at(2026, 10, 31, 23)), ("G", at(2026, 11, 1, 0, 10))):
        no = c[key] = lg.open("ZT-FIX", C1, G11, t0)
        lg.handle(no, PATROLLER, t0.replace(minute=t0.minute + 10))
        lg.close(no, t0.replace(minute=t0.minute + 20))
    # H: community case, unsatisfied callback → reopened → satisfied.
    h = c["H"] = lg.open("ZT-COM", C1, G11, at(2026, 10, 19, 9), source="citizen", reporter=CITIZEN)
    lg.dispatch(h, at(2026, 10, 19, 9))
    lg.do(h, K.ACKNOWLEDGED, team(C1), at(2026, 10, 19, 9, 30))
    lg.handle(h, team(C1), at(2026, 10, 19, 11))
    lg.review(h, at(2026, 10, 19, 11, 30))
    lg.do(h, K.RATED, CITIZEN, at(2026, 10, 19, 14), rating="unsatisfied")
    lg.do(h, K.REOPENED, SYSTEM, at(2026, 10, 19, 14))
    lg.handle(h, team(C1), at(2026, 10, 19, 16))
    lg.review(h, at(2026, 10, 19, 17))
    lg.do(h, K.RATED, CITIZEN, at(2026, 10, 20, 9), rating="satisfied")
    lg.close(h, at(2026, 10, 20, 9))
    # I: item version 1, one failed review.
    i = c["I"] = lg.open("ZT-VER", C3, G31, at(2026, 10, 14, 9))
    lg.dispatch(i, at(2026, 10, 14, 9))
    lg.do(i, K.ACKNOWLEDGED, officer("ZHB"), at(2026, 10, 14, 9, 20))
    lg.do(i, K.ARRIVED, officer("ZHB"), at(2026, 10, 14, 10))
    lg.handle(i, officer("ZHB"), at(2026, 10, 14, 15))
    lg.review(i, at(2026, 10, 14, 16), passed=False)
    lg.handle(i, officer("ZHB"), at(2026, 10, 15, 10))
    lg.review(i, at(2026, 10, 15, 11))
    lg.close(i, at(2026, 10, 15, 11))
    # J: cancelled.
    j = c["J"] = lg.open("ZT-DEP", C2, G21, at(2026, 10, 20, 9))
    lg.dispatch(j, at(2026, 10, 20, 9))
    lg.do(j, K.CANCELLED, DISPATCHER, at(2026, 10, 20, 9, 30), reason="duplicate")
    # K: returned and never re-routed.
    k = c["K"] = lg.open("ZT-DEP", C2, G21, at(2026, 10, 28, 9))
    lg.dispatch(k, at(2026, 10, 28, 9))
    lg.do(k, K.RETURNED, officer("ZCG"), at(2026, 10, 28, 9, 30), reason="not ours")
    # E continues in November (written after October so the trail stays in time order).
    lg.do(e, K.ARRIVED, officer("ZCG"), at(2026, 11, 2, 9))
    lg.handle(e, officer("ZCG"), at(2026, 11, 2, 11))
    lg.review(e, at(2026, 11, 2, 11, 30))
    lg.close(e, at(2026, 11, 2, 11, 30))
    return c


_SAMPLE: list[Catalog] = []


def sample_ledger(runtime: Runtime, shipped: Catalog) -> Ledger:
    """``runtime`` (SQLite or PostgreSQL, from conftest) on the sample catalogue."""
    if not _SAMPLE:
        _SAMPLE.append(sample_catalog(shipped))
    sample = _SAMPLE[0]
    book = CaseBook(runtime.engine, sample, runtime.calendar, runtime.book.ladder)
    rt = Runtime(runtime.settings, runtime.engine, sample, runtime.calendar, book)
    rt.init_ledger()
    return Ledger(rt)


@pytest.fixture
def ledger(runtime: Runtime, catalog: Catalog) -> Ledger:
    return sample_ledger(runtime, catalog)


def test_sample_stories_end_where_the_docstring_says(ledger: Ledger) -> None:
    c = build_october(ledger)
    status = {k: ledger.book.get(no).status for k, no in c.items()}
    assert status == {
        "L": "closed",
        "M": "closed",
        "A": "closed",
        "B": "closed",
        "C": "closed",
        "D": "in_progress",
        "E": "closed",
        "F": "closed",
        "G": "closed",
        "H": "closed",
        "I": "closed",
        "J": "cancelled",
        "K": "returned",
        "N": "reported",
    }
    assert ledger.book.get(c["I"]).item_version == 1
    # The handle deadlines the docstring works out by hand (local time).
    due = {k: ledger.book.get(c[k]).handle_due for k in ("A", "B", "C", "D", "K", "L", "M", "N")}
    assert due == {
        "A": at(2026, 10, 13, 9, 30),
        "B": at(2026, 10, 14, 9, 30),
        "C": at(2026, 10, 16, 11),
        "D": at(2026, 10, 27, 9, 30),
        "K": at(2026, 10, 29, 10),
        "L": at(2026, 9, 30, 9, 30),
        "M": at(2026, 10, 8, 16, 30),
        "N": at(2026, 9, 28, 10, 30),
    }
