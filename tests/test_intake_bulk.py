"""Machine-found events in bulk: row checks, dedupe, idempotent re-ingest, and cases that are
the same as the case book's — on SQLite and PostgreSQL. Also the bulk writer's JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gridgov.domain.enums import CaseStatus, Role, Tier
from gridgov.domain.lifecycle import SYSTEM, EventKind
from gridgov.domain.routing import CaseFacts, UnsatisfiedPolicy, notices
from gridgov.intake.bulk import BulkIntake, ingest_events
from gridgov.intake.dedupe import DedupeRule
from gridgov.intake.machine import Format, RowChecker, parse_text
from gridgov.ledger.models import Case, CaseEvent, Notification
from gridgov.ledger.progress import advance
from gridgov.ledger.records import CaseRecord
from gridgov.ledger.risk_models import IntakeEvent
from gridgov.ledger.supervision import _Notices, _payload_json, sweep
from gridgov.runtime import Runtime
from tests.conftest import at, write_locked

T0 = at(2026, 11, 23, 9, 0)


def grid(rt: Runtime, n: int = 0) -> tuple[str, str]:
    g = sorted(u.code for u in rt.catalog.territory.values() if u.kind == "grid")[n]
    return rt.catalog.territory[g].parent or "", g


def row(rt: Runtime, eid: str, minutes: float = 0, **over: Any) -> dict[str, Any]:
    community, g = grid(rt)
    base = {
        "event_id": eid,
        "source": "ai_camera",
        "device": "cam-1",
        "type": "exposed_rubbish",
        "at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "community": community,
        "grid": g,
        "lat": 22.75,
        "lon": 113.92,
    }
    return base | over


def twin(rt: Runtime, first: CaseRecord, at: datetime, key: str) -> CaseRecord:
    """The same camera report as the bulk case ``first``, opened through the case book and
    moved on by the automatic steps (dispatch) as a case-book case is."""
    community, g = grid(rt)
    opened = rt.book.open_case(
        {
            "item_code": first.item_code,
            "community": community,
            "grid": g,
            "source": "ai_camera",
            "reporter": "ai_camera:cam-1",
        },
        SYSTEM,
        at,
        key,
    ).case
    return advance(
        rt.book, opened.case_no, None, at, spot_share=0, policy=UnsatisfiedPolicy.REOPEN
    ).case


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with rt.book.factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_bad_rows_are_named_by_line_and_field(runtime: Runtime) -> None:
    good = json.dumps(row(runtime, "a"))
    lines = [
        good,
        "{not json",
        json.dumps(row(runtime, "b", type="ufo")),
        json.dumps(row(runtime, "c", at="2026-11-23T09:00:00")),  # no timezone
        json.dumps(row(runtime, "d", grid="GM-NOPE")),
        json.dumps(row(runtime, "e", type="smoke")),  # an IoT type sent by a camera
        json.dumps(row(runtime, "f", colour="red")),
    ]
    checker = RowChecker(runtime.catalog, runtime.calendar.tz)
    results = [
        checker.check(n, raw) for n, raw in parse_text([x + "\n" for x in lines], Format.JSONL)
    ]
    errors = {(e.line, e.field) for r in results if isinstance(r, list) for e in r}
    assert errors == {
        (2, "row"),
        (3, "type"),
        (4, "at"),
        (5, "grid"),
        (6, "source"),
        (7, "colour"),
    }
    assert not isinstance(results[0], list)


def test_csv_rows_count_lines_from_the_header() -> None:
    text = (
        "event_id,source,type,at,community,grid\n"
        "x,ai_camera,crowd,2026-11-23T09:00:00+08:00,A,B,extra\n"
    )
    parsed = list(parse_text([text], Format.CSV))
    assert parsed == [(2, "more cells than the header has columns")]


def test_dedupe_window_and_place() -> None:
    rule = DedupeRule(window=timedelta(minutes=30))
    with pytest.raises(ValueError, match="positive"):
        DedupeRule(window=timedelta(0))
    from gridgov.intake.dedupe import Deduper

    d: Deduper[str] = Deduper(rule)
    assert d.match("k", T0) is None
    d.known("k", T0, "case-1")
    assert d.match("k", T0 + timedelta(minutes=29)) == "case-1"
    assert d.match("k", T0 + timedelta(minutes=30)) is None  # the window is anchored
    assert d.match("other", T0) is None


def test_bulk_cases_match_the_case_book_and_reingest_writes_nothing(runtime: Runtime) -> None:
    rows = [
        row(runtime, "e1", 0),
        row(runtime, "e2", 5),  # a repeat: same source, type, place within 30 min
        row(runtime, "e3", 45),  # past the window: a new case
        row(runtime, "e4", 6, lat=22.80),  # elsewhere
        row(
            runtime, "e5", 7, source="iot_sensor", type="smoke", device="smk-9", lat=None, lon=None
        ),
        row(runtime, "e1", 0),  # the same event twice in one batch
    ]
    report = ingest_events(runtime.book, rows)
    assert (report.opened, report.repeats, report.already) == (4, 1, 1)
    again = ingest_events(runtime.book, rows)
    assert (again.opened, again.repeats, again.already) == (0, 0, 6)
    assert count(runtime, Case) == 4 and count(runtime, IntakeEvent) == 5

    first = runtime.book.get(report.case_nos[0])
    with runtime.book.factory() as s:
        repeats = s.scalar(select(Case.repeat_count).where(Case.case_no == first.case_no))
    assert repeats == 2
    # The same report through the case book and the automatic dispatch gives the same clocks.
    same = twin(runtime, first, first.opened_at, "twin")
    for f in (
        "status",
        "assignee",
        "acknowledge_due",
        "arrive_due",
        "handle_due",
        "clock_kind",
        "clock_due",
        "next_sweep_at",
        "tier",
        "item_version",
        "street_code",
    ):
        assert getattr(first, f) == getattr(same, f), f
    trail = runtime.book.trail(first.case_no)
    assert [(e.seq, e.kind) for e in trail] == [(1, "created"), (2, "dispatched")]
    assert [e.kind for e in runtime.book.trail(same.case_no)] == ["created", "dispatched"]
    # Its dispatch notice is the one the routing rules give.
    facts = CaseFacts(
        first.case_no,
        CaseStatus(first.status),
        Tier(first.tier),
        "ai_camera",
        first.assignee,
        first.community_code,
    )
    want = {n.recipient for n in notices(facts, EventKind.DISPATCHED)}
    with runtime.book.factory() as s:
        got = set(s.scalars(select(Notification.recipient).where(Notification.case_id == first.id)))
    assert want <= got


def test_bulk_cases_are_supervised_and_answerable(runtime: Runtime) -> None:
    report = ingest_events(
        runtime.book, [row(runtime, f"s{i}", i, lat=22.7 + i / 100) for i in range(3)]
    )
    case = runtime.book.get(report.case_nos[0])
    assert case.next_sweep_at is not None and case.clock_due is not None
    acted = sweep(runtime.book, case.clock_due + timedelta(days=3))
    assert {a.case_no for a in acted} == set(report.case_nos)
    seqs = [e.seq for e in runtime.book.trail(case.case_no)]
    assert seqs == list(range(1, len(seqs) + 1))
    # A department answers a bulk-opened case through the normal path.
    from gridgov.domain.lifecycle import Actor

    ack = runtime.book.act(
        case.case_no,
        EventKind.ACKNOWLEDGED,
        Actor(Role.DEPARTMENT, "o", department=case.assignee),
        case.clock_due + timedelta(days=3, minutes=1),
        "ack",
    )
    assert ack.case.status == "acknowledged"


def test_field_fix_items_wait_for_the_grid_worker(runtime: Runtime) -> None:
    report = ingest_events(runtime.book, [row(runtime, "ff", type="shop_spill_out")])
    case = runtime.book.get(report.case_nos[0])
    assert case.tier == Tier.FIELD_FIX and case.status == "reported"
    with runtime.book.factory() as s:
        kinds = set(s.scalars(select(Notification.kind).where(Notification.case_id == case.id)))
    assert kinds == {"machine_event"}


def test_chunks_and_file_intake_with_errors(runtime: Runtime, tmp_path: Any) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(row(runtime, f"f{i}", i * 40)) for i in range(7)] + ['{"source": "x"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = BulkIntake(runtime.book).ingest_file(path, chunk=3)
    assert report.rows == 8 and report.opened == 7
    assert {e.line for e in report.errors} == {8}
    numbers = sorted(report.case_nos)
    assert len(set(numbers)) == 7 and numbers[0].endswith("000001")
    assert count(runtime, CaseEvent, CaseEvent.kind == "created") == 7


def test_sweep_payloads_are_the_json_the_orm_would_write() -> None:
    text = _payload_json("handle", "2026-11-23T01:40:00+00:00", 1, 1.5, "CG")
    assert text == json.dumps(
        {
            "clock": "handle",
            "due": "2026-11-23T01:40:00+00:00",
            "step": 1,
            "fraction": 1.5,
            "assignee": "CG",
        }
    )
    memo = _Notices()
    row_ = ("dispatched", 3, "citizen", "CG", "GM-A", '["SC"]', "citizen-1")
    got = memo(EventKind.ESCALATED, row_, "C20261123-000009", text)
    facts = CaseFacts(
        "C20261123-000009",
        CaseStatus.DISPATCHED,
        Tier(3),
        "citizen",
        "CG",
        "GM-A",
        ("SC",),
        "citizen-1",
    )
    want = [
        (n.kind, n.recipient, json.dumps({**n.body, **json.loads(text)}))
        for n in notices(facts, EventKind.ESCALATED)
    ]
    assert got == want and len(want) == 2
    assert memo(EventKind.ESCALATED, row_, "C20261123-000010", text)[0][2] != got[0][2]


def test_a_chunk_waits_out_a_long_sqlite_writer(
    busy_sqlite: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite only (the file lock): another writer holding the ledger past busy_timeout makes
    the chunk fail with "database is locked"; it wrote nothing, so it is tried again."""
    import threading

    from gridgov.intake import bulk

    rt = busy_sqlite
    monkeypatch.setattr(bulk, "LOCKED_PAUSE", 0.4)
    done: list[Any] = []
    with write_locked(rt):
        worker = threading.Thread(
            target=lambda: done.append(ingest_events(rt.book, [row(rt, "L")]))
        )
        worker.start()
        worker.join(0.2)
        assert worker.is_alive()  # waiting, not failed
    worker.join(10)
    assert done and done[0].opened == 1
    assert count(rt, Case) == 1
