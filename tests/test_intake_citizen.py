"""Citizen requests: classification (or the dispatcher's queue), QR routing, the citizen clock."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gridgov.domain.enums import Role, Source
from gridgov.domain.errors import InvalidInput, InvalidTransition
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.intake.citizen import CitizenDesk, inline_opener
from gridgov.intake.citizen_clock import CitizenClockRules, Progress, Stage, Standing, standing
from gridgov.intake.classify import Classifier, ClassifierRule
from gridgov.intake.clock_check import check_citizen_clock, citizen_clock_summary
from gridgov.intake.places import BuildingDirectory, Place, parse_qr, qr_code
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.models import Notification
from gridgov.ledger.risk_models import CitizenClockBreach, CitizenRequest
from gridgov.runtime import Runtime
from tests.conftest import at

DAY = date(2026, 11, 23)
T0 = at(2026, 11, 23, 9, 0)


@pytest.fixture(scope="module")
def classifier(catalog: Catalog) -> Classifier:
    return Classifier(catalog.in_force(DAY), Source.CITIZEN)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("路灯坏了，晚上很黑", "BJ-GY-008"),
        ("The street light outside my building is out", "BJ-GY-008"),
        ("马路上有个大坑", "BJ-DL-010"),  # via the synonym 大坑 → 坑槽
        ("老板不发工资三个月了", "SH-QX-001"),
        ("消防车进不来，消防通道被车堵了", "SH-XH-003"),
    ],
)
def test_sure_requests_get_their_item(classifier: Classifier, text: str, code: str) -> None:
    decision = classifier.classify(text)
    assert decision.item_code == code and decision.margin >= 2


@pytest.mark.parametrize(
    "text",
    [
        "井盖坏了",  # three manhole-cover items tie: the dispatcher picks
        "楼下有人摆地摊，占了人行道",  # stall or pavement: too close
        "你好，想反映个问题",  # no catalogue word
    ],
)
def test_unsure_requests_are_never_guessed(classifier: Classifier, text: str) -> None:
    decision = classifier.classify(text)
    assert decision.item_code is None and not decision.sure
    assert decision.reason


def test_latin_terms_match_whole_words_and_rule_is_configurable(catalog: Catalog) -> None:
    c = Classifier(catalog.in_force(DAY), Source.CITIZEN)
    assert c.classify("a cabinet is broken").item_code is None  # "bin" inside "cabinet"
    strict = Classifier(catalog.in_force(DAY), Source.CITIZEN, ClassifierRule(min_margin=10))
    assert strict.classify("路灯坏了").item_code is None


def test_qr_codes_carry_the_grid(catalog: Catalog) -> None:
    g = sorted(u for u in catalog.territory if catalog.territory[u].kind == "grid")[0]
    place = Place(catalog.territory[g].parent or "", g, "B007")
    assert parse_qr(qr_code(place), catalog.territory) == place
    with pytest.raises(InvalidInput) as bad:
        parse_qr("https://example.com/x", catalog.territory)
    assert bad.value.field == "qr"
    other = sorted(u for u in catalog.territory if catalog.territory[u].kind == "community")[-1]
    with pytest.raises(InvalidInput, match="not in"):
        parse_qr(qr_code(Place(other, g)), catalog.territory)
    assert BuildingDirectory([place]).find("B007") == place


def _request(rt: Runtime, rid: str, text: str, minutes: float = 0, **over: Any) -> dict[str, Any]:
    g = sorted(u for u in rt.catalog.territory if rt.catalog.territory[u].kind == "grid")[3]
    place = Place(rt.catalog.territory[g].parent or "", g, "B001")
    base = {
        "channel": "qr",
        "request_id": rid,
        "reporter": "citizen-13800000000",
        "text": text,
        "received_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "qr": qr_code(place),
    }
    return base | over


def test_sure_request_opens_a_dispatched_case_in_its_grid(runtime: Runtime) -> None:
    desk = CitizenDesk(runtime.book)
    opener = inline_opener(runtime.book)
    req = _request(runtime, "r1", "路灯坏了，晚上很黑")
    out = desk.submit(req, opener)
    assert out.status == "opened" and out.item_code == "BJ-GY-008" and out.case_no
    case = runtime.book.get(out.case_no)
    assert case.source == "citizen" and case.building == "B001"
    assert case.grid_code == parse_qr(req["qr"], runtime.catalog.territory).grid
    assert case.status == "dispatched" and case.opened_at == T0
    assert desk.submit(req, opener) == out  # the same request again: the same outcome
    with runtime.book.factory() as s:
        receipts = s.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.case_id == case.id, Notification.kind == "received")
        )
    assert receipts == 1


def test_unsure_request_waits_for_the_dispatcher(runtime: Runtime) -> None:
    desk = CitizenDesk(runtime.book)
    opener = inline_opener(runtime.book)
    out = desk.submit(_request(runtime, "r2", "井盖坏了"), opener)
    assert out.status == "queued" and out.case_no is None
    assert {c["code"] for c in out.candidates} >= {"BJ-GY-001", "BJ-GY-003"}
    assert [q.id for q in desk.queue()] == [out.id]
    with runtime.book.factory() as s:
        kinds = set(s.scalars(select(Notification.kind).where(Notification.case_id.is_(None))))
    assert kinds == {"received", "classify_needed"}
    done = desk.assign(out.id, "BJ-GY-003", "dispatcher-1", T0 + timedelta(minutes=20), opener)
    assert done.status == "assigned" and done.case_no is not None
    case = runtime.book.get(done.case_no)
    assert case.item_code == "BJ-GY-003" and case.opened_at == T0  # as of the receipt
    with runtime.book.factory() as s:  # one SMS receipt: the one sent when it was queued
        receipts = s.execute(
            select(Notification.status, Notification.idempotency_key).where(
                Notification.case_id == case.id, Notification.kind == "received"
            )
        ).all()
    sent = [key for status, key in receipts if status == "pending"]
    assert sent == ["citizen:qr:r2|received"] and len(receipts) == 2
    with pytest.raises(InvalidTransition):
        desk.assign(out.id, "BJ-GY-001", "dispatcher-1", T0, opener)
    other = desk.submit(_request(runtime, "r3", "请问这个归谁管？"), opener)
    rejected = desk.reject(other.id, "dispatcher-1", "not a governance matter", T0)
    assert rejected.status == "rejected" and desk.queue() == []
    with pytest.raises(InvalidInput) as bad:
        desk.submit(_request(runtime, "r4", "x", qr=None), opener)
    assert bad.value.field == "qr"


def test_citizen_clock_rules() -> None:
    r = CitizenClockRules()
    p = Progress(received=T0, noticed=T0, appointed=T0 + timedelta(minutes=40))
    now = T0 + timedelta(hours=2)
    assert standing(r, Stage.NOTICE, p, now) == Standing.ON_TIME
    assert standing(r, Stage.APPOINTMENT, p, now) == Standing.LATE
    assert standing(r, Stage.DONE, p, now) == Standing.PENDING
    assert standing(r, Stage.CALLBACK, p, now) == Standing.NOT_YET
    closed = Progress(received=T0, reviewed=T0 + timedelta(hours=3), closed=T0 + timedelta(hours=4))
    assert standing(r, Stage.CALLBACK, closed, T0 + timedelta(hours=5)) == Standing.LATE


def test_clock_check_records_each_miss_once(runtime: Runtime) -> None:
    desk = CitizenDesk(runtime.book)
    opener = inline_opener(runtime.book)
    late = desk.submit(_request(runtime, "c1", "路灯坏了"), opener)
    quick = desk.submit(_request(runtime, "c2", "马路上有个大坑"), opener)
    queued = desk.submit(_request(runtime, "c3", "井盖坏了"), opener)
    assert late.case_no and quick.case_no and queued.status == "queued"
    fast = runtime.book.get(quick.case_no)
    runtime.book.act(
        fast.case_no,
        EventKind.ACKNOWLEDGED,
        Actor(Role.DEPARTMENT, "o", department=fast.assignee),
        T0 + timedelta(minutes=10),
        "ack-fast",
    )
    now = T0 + timedelta(hours=1)
    found = check_citizen_clock(runtime.book, now)
    assert {(b.case_no, b.request_id, b.stage) for b in found} == {
        (late.case_no, None, "appointment"),
        (None, "c3", "appointment"),
    }
    assert check_citizen_clock(runtime.book, now + timedelta(minutes=5)) == []
    with runtime.book.factory() as s:
        assert s.scalar(select(func.count()).select_from(CitizenClockBreach)) == 2
        told = set(
            s.scalars(select(Notification.recipient).where(Notification.kind == "citizen_clock"))
        )
        assert any(r.startswith("dispatcher:") for r in told)
        assert (
            s.scalar(select(CitizenRequest.status).where(CitizenRequest.request_id == "c3"))
            == "queued"
        )
    summary = citizen_clock_summary(runtime.engine, T0 - timedelta(hours=1), now)
    assert summary["appointment"]["on_time"] == 1 and summary["appointment"]["late"] == 1
    assert summary["notice"]["on_time"] == 2


def test_an_assignment_cut_short_is_finished_by_its_repeat(runtime: Runtime) -> None:
    """The case was opened but the request not marked (a crash between the two): a reject
    is refused, and assigning the same item again finishes the job with the same case."""
    desk = CitizenDesk(runtime.book)
    opener = inline_opener(runtime.book)
    out = desk.submit(_request(runtime, "c1", "井盖坏了"), opener)
    new, req = desk.case_for(out.id, "BJ-GY-003")
    half = opener(new, Actor(Role.DISPATCHER, "d"), req.received_at, req.key)  # the crash
    with pytest.raises(InvalidTransition) as refused:
        desk.reject(out.id, "dispatcher-1", "nothing to do", T0)
    assert half.case_no in refused.value.message
    done = desk.assign(out.id, "BJ-GY-003", "dispatcher-1", T0, opener)
    assert done.status == "assigned" and done.case_no == half.case_no
    assert desk.assign(out.id, "BJ-GY-003", "dispatcher-2", T0, opener) == done  # replay
    with pytest.raises(InvalidTransition):
        desk.assign(out.id, "BJ-GY-001", "dispatcher-1", T0, opener)
