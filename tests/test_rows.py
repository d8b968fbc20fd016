"""The one row specification (ledger/rows.py), idempotency keys (domain/keys.py) and tier
paths (domain/tiers.py): the bulk writers and the case book write equal rows because they are
built from the same specification — every column, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from gridgov.domain import keys
from gridgov.domain.deadlines import running_clock_kind
from gridgov.domain.enums import CaseStatus, DeadlineKind, Tier
from gridgov.domain.errors import InvalidInput
from gridgov.domain.lifecycle import SYSTEM
from gridgov.domain.routing import UnsatisfiedPolicy
from gridgov.domain.tiers import COMMUNITY_UNIT, path, tiers_where
from gridgov.intake.bulk import ingest_events
from gridgov.ledger import rows, timers
from gridgov.ledger.progress import advance
from gridgov.runtime import Runtime
from tests.test_intake_bulk import T0, row, twin

# Columns that name *this* case or its origin: they differ between two reports of one thing.
IDENTITY = {
    "id",
    "case_no",
    "source",
    "reporter",
    "media",
    "lat",
    "lon",
    "dedupe_key",
    "source_system",
    "source_id",
    "repeat_count",
}


def test_column_order_and_defaults_come_from_the_model() -> None:
    assert tuple(c.name for c in rows.CASES.columns) == rows.CASE_COLUMNS
    assert set(rows.EVENT_COLUMNS) == {c.name for c in rows.EVENTS.columns} - {"id"}
    assert rows.CASE_DEFAULTS["deadline_source"] == "catalog"
    assert rows.CASE_DEFAULTS["media"] == [] and rows.CASE_DEFAULTS["row_version"] == 1
    built = rows.case_row({"case_no": "C1", "tier": 3})
    assert len(built) == len(rows.CASE_COLUMNS)
    assert built[rows.CASE_COLUMNS.index("tier")] == 3
    assert built[rows.CASE_COLUMNS.index("overdue")] is False
    with pytest.raises(KeyError, match="not columns of cases"):
        rows.case_row({"case_number": "C1"})
    note = dict(
        zip(rows.NOTICE_COLUMNS, rows.notice_row(1, "k", "r", "{}", "key", T0), strict=True)
    )
    assert (note["status"], note["attempts"], note["sent_at"]) == ("pending", 0, None)


def test_one_encoder_scalar_and_vector_agree() -> None:
    enc = rows.Encoder("sqlite")
    moment = datetime(2026, 11, 23, 1, 2, 3, 4005, tzinfo=UTC)
    us = int(moment.timestamp() * 1_000_000)
    text = enc.time(moment)
    assert text == "2026-11-23 01:02:03.004005"
    assert enc.times(np.array([us, rows.NO_TIME], dtype=np.int64)) == [text, None]
    assert enc.time(moment.astimezone(T0.tzinfo)) == text  # any zone: stored as UTC
    with pytest.raises(ValueError, match="naive"):
        enc.time(moment.replace(tzinfo=None))
    pg = rows.Encoder("postgresql")
    assert pg.times(np.array([us], dtype=np.int64)) == ["2026-11-23T01:02:03.004005+00:00"]
    assert rows.json_text({"a": "社区"}) == '{"a": "\\u793e\\u533a"}'  # as SQLAlchemy's JSON


def test_keys_have_one_length_rule() -> None:
    assert keys.notice("k1", "dispatched", "department:D") == "k1|dispatched|department:D"
    assert keys.imported("hot", "42", "closed") == "import:hot:42:closed"
    long_a, long_b = "x" * 250 + "a", "x" * 250 + "b"
    a, b = keys.notice(long_a, "n", "r"), keys.notice(long_b, "n", "r")
    assert len(a) <= keys.MAX and len(b) <= keys.MAX
    assert a != b  # a cut would have made them equal
    assert a.endswith("|n|r")
    imported = keys.imported("hot", "s" * 300, "created")
    assert imported == keys.imported_digest_head("hot", "s" * 300) + ":created"
    with pytest.raises(InvalidInput) as err:
        keys.check("k" * 201)
    assert err.value.field == "idempotency_key"


def test_tier_paths() -> None:
    assert path(Tier.DEPARTMENT).default_handler("UM") == "UM"
    assert path(Tier.COMMUNITY).default_handler("UM") == COMMUNITY_UNIT
    assert tiers_where("dispatched_at_once") == [2, 3]
    assert tiers_where("arrival_required") == [3]
    assert path(1).closes_without_review(CaseStatus.HANDLED)
    assert not path(2).closes_without_review(CaseStatus.HANDLED)
    assert running_clock_kind(CaseStatus.DISPATCHED, Tier.FIELD_FIX) == DeadlineKind.HANDLE
    assert running_clock_kind(CaseStatus.ACKNOWLEDGED, Tier.DEPARTMENT) == DeadlineKind.ARRIVE
    assert running_clock_kind(CaseStatus.ACKNOWLEDGED, Tier.COMMUNITY) == DeadlineKind.HANDLE
    assert running_clock_kind(CaseStatus.CLOSED, Tier.COMMUNITY) is None


def _stored(rt: Runtime, case_no: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with rt.engine.connect() as conn:
        case = conn.execute(select(rows.CASES).where(rows.CASES.c.case_no == case_no)).one()
        events = conn.execute(
            select(rows.EVENTS).where(rows.EVENTS.c.case_id == case.id).order_by(rows.EVENTS.c.seq)
        ).all()
    return dict(case._mapping), [dict(e._mapping) for e in events]


def test_bulk_intake_writes_the_case_books_rows_column_for_column(runtime: Runtime) -> None:
    """Every ``cases`` column (a new one included, without touching this test) and every
    event column but the ones naming who and which command, bulk against the case book."""
    report = ingest_events(runtime.book, [row(runtime, "r1")])
    bulk_no = report.case_nos[0]
    first = runtime.book.get(bulk_no)
    book_twin = twin(runtime, first, T0, "twin-rows")
    bulk, bulk_events = _stored(runtime, bulk_no)
    book, book_events = _stored(runtime, book_twin.case_no)
    compared = [c for c in rows.CASE_COLUMNS if c not in IDENTITY]
    assert len(compared) > 40
    assert {c: bulk[c] for c in compared} == {c: book[c] for c in compared}
    same = ("seq", "kind", "role", "department", "community", "at", "from_status", "to_status")
    assert [{c: e[c] for c in same} for e in bulk_events] == [
        {c: e[c] for c in same} for e in book_events
    ]
    # The dispatch is the automatic step progress.advance takes: same key rule, same payload.
    assert bulk_events[1]["idempotency_key"] == keys.follow_up(bulk_no, 1, "dispatched")
    assert bulk_events[1]["payload"] == book_events[1]["payload"]


@pytest.mark.parametrize(
    "value",
    [
        {"item_version": 1, "source": "ai_camera", "event_id": "e-1", "fraction": 0.8},
        '社区 "quoted"\n',
        [1, None, True, 2.5e300, {"nested": ["x"]}],
        {},
        10**20,
    ],
)
def test_json_text_is_what_sqlalchemy_stores(value: Any) -> None:
    import json

    assert rows.json_text(value) == json.dumps(value)


def test_every_writer_keeps_the_timer_its_case_columns_imply(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The 督办 timer of a case opened or moved by the case book, bulk intake or the importer
    is the row ``rows.timer_of_case`` derives from the case's own columns — and a case-book
    twin of a bulk case gets the same timer."""
    from tests.test_import_support import run

    report = ingest_events(runtime.book, [row(runtime, "t1")])
    bulk_no = report.case_nos[0]
    first = runtime.book.get(bulk_no)
    book_twin = twin(runtime, first, T0, "twin-timer")
    run(runtime, "szcg_gbk.csv", "szcg_mapping.yaml", tmp_path)
    with runtime.engine.connect() as conn:
        cases = conn.execute(select(rows.CASES)).all()
        stored = timers.of_cases(conn, [c.id for c in cases])
    implied = {c.id: rows.timer_of_case(c._mapping) for c in cases}
    assert stored == {i: t for i, t in implied.items() if t is not None}
    by_no = {c.case_no: c.id for c in cases}
    assert stored[by_no[bulk_no]][1:] == stored[by_no[book_twin.case_no]][1:]
    imported = [c for c in cases if c.source_system and not c.source_system.startswith("intake")]
    assert any(c.id in stored for c in imported) and any(c.id not in stored for c in imported)


# Columns of an imported case that say where it came from or how often it was written, not
# what state it is in; compared with a case-book twin that lived the same history.
IMPORT_ORIGIN = IDENTITY | {
    "description",
    "row_version",
    "flow_run_id",
    "attributes",
    "source_channel",
}


def test_importer_writes_the_case_books_rows_for_the_same_history(
    runtime: Runtime, tmp_path: Path
) -> None:
    """An imported open case (reported and dispatched at one moment, nothing since) and a case
    the case book opens and dispatches at that moment: every other ``cases`` column equal
    (deadlines, clock, ladder step, timer, assignee, counters, a new column too) and the same
    trail steps — the importer's row comes from the same specification, not a copy of it."""
    from gridgov.exchange.importer import Importer
    from gridgov.exchange.readers import open_file
    from tests.test_import_support import mapping

    opened = datetime(2026, 10, 12, 9, 15, tzinfo=T0.tzinfo)  # a Monday, office hours
    csv = tmp_path / "one.csv"
    csv.write_text(
        "ticket_id,created_at,closed_at,deadline,state,agency,category,community_code,"
        "grid_code,content,channel,lat,lon\n"
        f"HL-9,{opened.isoformat()},,,open,市场监管,消费纠纷,GM-GM-GUANGMING,,x,12345,,\n",
        encoding="utf-8-sig",
    )
    m = mapping(runtime, "hotline_mapping.yaml")
    # The import runs at the opening moment: the case's limit is ahead, so it is laddered.
    summary = Importer(runtime.book, m, now=opened).run(open_file(csv, m))
    assert summary.imported == 1
    book_twin = runtime.book.open_case(
        {
            "item_code": "SH-JF-009",
            "community": "GM-GM-GUANGMING",
            "source": "hotline",
            "reporter": "citizen",
            "description": "y",
        },
        SYSTEM,
        opened,
        "twin-import",
    ).case
    advance(
        runtime.book, book_twin.case_no, None, opened, spot_share=0, policy=UnsatisfiedPolicy.REOPEN
    )
    with runtime.engine.connect() as conn:
        imported_no = conn.scalar(
            select(rows.CASES.c.case_no).where(rows.CASES.c.source_id == "HL-9")
        )
    imp, imp_events = _stored(runtime, str(imported_no))
    book, book_events = _stored(runtime, book_twin.case_no)
    compared = [c for c in rows.CASE_COLUMNS if c not in IMPORT_ORIGIN]
    assert len(compared) > 40
    assert imp["status"] == "dispatched" and imp["next_sweep_at"] is not None
    assert {c: imp[c] for c in compared} == {c: book[c] for c in compared}
    same = ("seq", "kind", "at", "from_status", "to_status")
    assert [{c: e[c] for c in same} for e in imp_events] == [
        {c: e[c] for c in same} for e in book_events
    ]
