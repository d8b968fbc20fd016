"""The tamper-evident trail: a clean simulated month verifies; each tampering an afternoon of
falsifying found — made by plain SQL as the database owner (past the append-only triggers),
consistent enough to pass the audit's checks — makes ``verify-trail`` fail naming the case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, delete, func, insert, select, update
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.domain.lifecycle import SYSTEM, EventKind
from gridgov.intake.bulk import ingest_events
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger import append_only
from gridgov.ledger.chain import load_private, load_public, new_key, seal, verify
from gridgov.ledger.db import alembic_config, migrate
from gridgov.ledger.models import Case, CaseEvent
from gridgov.ledger.seal_models import EventHash, TrailCheckpoint
from gridgov.ledger.supervision import sweep
from gridgov.runtime import Runtime, reset_runtime
from tests.test_assessment_sample import Ledger, build_october, officer, sample_ledger

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


class Trail:
    def __init__(self, runtime: Runtime, catalog: Catalog, keys: Path) -> None:
        self.lg: Ledger = sample_ledger(runtime, catalog)
        self.cases = build_october(self.lg)
        d = self.cases["D"]  # a 督办 on the overdue case, then its handling
        self.lg.do(d, EventKind.SUPERVISED, SYSTEM, datetime(2026, 10, 29, 2, tzinfo=UTC))
        self.lg.handle(d, officer("ZCG"), datetime(2026, 10, 29, 3, tzinfo=UTC))
        self.private, self.public = keys / "seal.pem", keys / "seal.pub"
        new_key(self.private, self.public)
        self.export = keys / "checkpoints.jsonl"
        self.engine = runtime.engine

    def seal(self) -> None:
        seal(self.engine, load_private(self.private), now=NOW, export=self.export)

    def verify(self) -> list[str]:
        rep = verify(self.engine, load_public(self.public), exported=self.export)
        return rep.problems

    def id(self, story: str) -> int:
        return self.lg.book.get(self.cases[story]).id

    def owner(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            append_only.remove(conn)
            yield conn
            append_only.install(conn)


@pytest.fixture
def trail(runtime: Runtime, catalog: Catalog, tmp_path: Path) -> Trail:
    t = Trail(runtime, catalog, tmp_path)
    t.seal()
    return t


def test_a_clean_month_verifies_and_later_events_are_sealed_by_the_next_checkpoint(
    trail: Trail,
) -> None:
    rep = verify(trail.engine, load_public(trail.public), exported=trail.export)
    assert rep.ok, rep.problems
    assert (rep.unsealed, rep.checkpoints) == (0, 1)
    with trail.engine.connect() as conn:
        cp = conn.execute(select(TrailCheckpoint.events, TrailCheckpoint.note)).one()
    assert cp == (rep.events, "")  # the case book hashed them: nothing to compute or say
    trail.lg.open("ZT-DEP", "ZQ-S1-C1", None, datetime(2026, 11, 3, 2, tzinfo=UTC))
    assert verify(trail.engine, load_public(trail.public)).unsealed == 1
    trail.seal()
    rep = verify(trail.engine, load_public(trail.public), exported=trail.export)
    assert rep.ok and (rep.unsealed, rep.checkpoints) == (0, 2)
    assert len(trail.export.read_text().splitlines()) == 2


def test_consistent_tamperings_break_the_chain_of_exactly_those_cases(trail: Trail) -> None:
    a, b, d, h = (trail.id(s) for s in "ABDH")
    gen = trail.owner()
    conn = next(gen)
    # A: the dispatch target edited in place.
    conn.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == a, CaseEvent.kind == "dispatched")
        .values(payload={"department": "ZSC"})
    )
    # H: the unsatisfied callback made satisfied, in the event and the case.
    conn.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == h, CaseEvent.kind == "rated", CaseEvent.seq == 7)
        .values(payload={"rating": "satisfied"})
    )
    # B: the late handling moved to before its deadline (the case row follows).
    late = conn.scalar(
        select(CaseEvent.at).where(CaseEvent.case_id == b, CaseEvent.kind == "handled")
    )
    assert late is not None
    conn.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == b, CaseEvent.kind == "handled")
        .values(at=late - timedelta(hours=20))
    )
    conn.execute(update(Case).where(Case.id == b).values(handled_at=late - timedelta(hours=20)))
    # D: the 督办 deleted (with its hash) and the later events renumbered.
    sup = conn.execute(
        select(CaseEvent.id, CaseEvent.seq).where(
            CaseEvent.case_id == d, CaseEvent.kind == "supervised"
        )
    ).one()
    conn.execute(delete(EventHash).where(EventHash.case_id == d, EventHash.seq == sup.seq))
    conn.execute(delete(CaseEvent).where(CaseEvent.id == sup.id))
    conn.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == d, CaseEvent.seq > sup.seq)
        .values(seq=CaseEvent.seq - 1)
    )
    next(gen, None)
    problems = trail.verify()
    named = {p.split(" ", 1)[0] for p in problems if p.startswith("C")}
    assert named == {trail.cases[s] for s in "ABDH"}, problems
    first_b = next(p for p in problems if p.startswith(trail.cases["B"]))
    assert "(handled)" in first_b and "differs from its hash on the trail" in first_b
    # The checkpoint over those events no longer adds up either.
    assert any("no longer give its Merkle root" in p for p in problems)


def test_a_forged_checkpoint_or_a_foreign_key_fails(trail: Trail, tmp_path: Path) -> None:
    with trail.engine.begin() as conn:
        conn.execute(update(TrailCheckpoint).values(root="f" * 64))
    problems = trail.verify()
    assert any("do not give the signed digest" in p for p in problems), problems
    other_private, other_public = tmp_path / "o.pem", tmp_path / "o.pub"
    new_key(other_private, other_public)
    rep = verify(trail.engine, load_public(other_public))
    assert any("signature does not verify" in p for p in rep.problems)


def test_cli_verify_trail_exits_1_naming_the_case(
    trail: Trail, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", trail.engine.url.render_as_string(False))
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRIDGOV_SEAL_PUBLIC_KEY_FILE", str(trail.public))
    monkeypatch.setenv("GRIDGOV_CHECKPOINT_FILE", str(trail.export))
    reset_runtime()
    try:
        runner = CliRunner()
        ok = runner.invoke(app, ["audit", "verify-trail", "--since", "2026-11-01"])
        assert ok.exit_code == 0, ok.output
        assert "trail intact" in ok.output and "1 checkpoints verified" in ok.output
        h = trail.id("H")
        gen = trail.owner()
        conn = next(gen)
        conn.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == h, CaseEvent.seq == 7)
            .values(payload={"rating": "satisfied"})
        )
        next(gen, None)
        bad = runner.invoke(app, ["audit", "verify-trail"])
        assert bad.exit_code == 1
        assert f"{trail.cases['H']} event 7 (rated): differs from its hash" in bad.output
        sealed = runner.invoke(app, ["audit", "seal", "--key", str(trail.private)])
        assert sealed.exit_code == 0, sealed.output
        assert "checkpoint 2: 0 events of 0 cases sealed" in sealed.output
    finally:
        reset_runtime()


def test_an_event_written_without_its_hash_is_named(trail: Trail) -> None:
    c = trail.id("C")
    with trail.engine.begin() as conn:  # plain SQL: inserting is what the triggers allow
        last = conn.execute(
            select(CaseEvent).where(CaseEvent.case_id == c).order_by(CaseEvent.seq.desc())
        ).first()
        assert last is not None
        conn.execute(
            insert(CaseEvent).values(
                case_id=c,
                seq=last.seq + 1,
                kind="rated",
                actor="x",
                role="citizen",
                at=last.at,
                recorded_at=last.recorded_at,
                from_status=last.to_status,
                to_status=last.to_status,
                payload={"rating": "satisfied"},
                idempotency_key="forged-rating",
            )
        )
    problems = trail.verify()
    assert problems == [
        f"{trail.cases['C']} event {last.seq + 1} (rated): has no hash (written around the "
        "trail's writers, or an event before it was deleted and the rest renumbered)"
    ]
    # The next checkpoint does not vouch for it: it seals hashes, and it has none.
    assert seal(trail.engine, load_private(trail.private), now=NOW).events == 0
    assert trail.verify() == problems


def test_every_writer_hashes_its_events_in_its_own_transaction(
    runtime: Runtime, tmp_path: Path
) -> None:
    from tests.test_import_support import run
    from tests.test_intake_bulk import row
    from tests.test_supervision import _open_dispatched

    run(runtime, "hotline_bom.csv", "hotline_mapping.yaml", tmp_path)  # import: new trails
    run(  # …and events appended to stored trails
        runtime, "hotline_update_bom.csv", "hotline_mapping.yaml", tmp_path, now=NOW
    )
    report = ingest_events(runtime.book, [row(runtime, "e1"), row(runtime, "e2", 90)])
    assert report.opened == 2, report
    nos = _open_dispatched(runtime, 2)  # the case book
    due = runtime.book.get(nos[0]).clock_due
    assert due is not None
    assert sweep(runtime.book, due + timedelta(days=5))  # the sweep: reminders … escalations
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    new_key(private, public)
    rep = verify(runtime.engine, load_public(public))
    assert rep.ok, rep.problems
    with runtime.engine.connect() as conn:
        hashes = conn.scalar(select(func.count()).select_from(EventHash))
        kinds = set(conn.scalars(select(CaseEvent.kind)))
    assert hashes == rep.events == rep.unsealed > 20
    assert {"created", "dispatched", "handled", "reminded", "escalated"} <= kinds


def test_migration_keeps_sealed_hashes_and_computes_the_missing_ones_once(
    trail: Trail,
) -> None:
    """A ledger of 0008's time: sealed events, then events its writers did not hash."""
    engine = trail.engine
    trail.lg.open("ZT-DEP", "ZQ-S1-C1", None, datetime(2026, 11, 3, 2, tzinfo=UTC))
    trail.lg.open("ZT-DEP", "ZQ-S1-C1", None, datetime(2026, 11, 3, 3, tzinfo=UTC))
    with engine.begin() as conn:
        gone = conn.execute(delete(EventHash).where(EventHash.checkpoint_id.is_(None))).rowcount
        sealed = conn.scalar(select(func.count()).select_from(EventHash))
    assert gone == 2 and sealed
    command.downgrade(alembic_config(engine), "0010_a_timers")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EventHash)) == sealed + gone
        assert conn.scalar(select(func.count()).where(EventHash.checkpoint_id == 1)) == sealed
    rep = verify(engine, load_public(trail.public), exported=trail.export)
    assert rep.ok and (rep.checkpoints, rep.unsealed) == (1, gone), rep.problems
    cp = seal(engine, load_private(trail.private), now=NOW)
    assert (cp.events, cp.note) == (
        gone,
        f"chain computed once by migration 0011_b_event_hashes_by_seq for {gone} events "
        "written before every writer hashed its events",
    )
    assert verify(engine, load_public(trail.public)).ok
    assert seal(engine, load_private(trail.private), now=NOW).note == ""  # said once


def test_the_hash_rule_is_the_same_whatever_form_a_writer_holds_the_values_in() -> None:
    """sha256(previous ‖ "\\n" ‖ json.dumps(row with µs times and the parsed payload, sorted,
    compact, unescaped)): as sealed by 0008's checkpoints, whether the writer holds aware
    datetimes (any zone), SQLite's stored text, ISO text, payload objects or JSON text."""
    import hashlib
    import json
    from zoneinfo import ZoneInfo

    from gridgov.ledger.chain import _Canon, _hash, _us
    from gridgov.ledger.rows import json_text, sqlite_time

    at = datetime(2026, 10, 19, 9, 30, 1, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    rec = datetime(2026, 10, 19, 1, 30, 2, 7, tzinfo=UTC)
    payload = {"rating": "满意", "amount": 2.5, "a": [1, None, True]}
    head = [7, 3, "rated", "市民", "citizen", None, "ZQ-S1-C1"]
    tail = ["handled", "rated"]
    us = tuple(int(t.timestamp()) * 1_000_000 + t.microsecond for t in (at, rec))
    old = json.dumps(
        [*head, *us, *tail, payload, "k-1"],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    expected = hashlib.sha256(b"p" * 64 + b"\n" + old).hexdigest()
    forms = [
        (at, rec, payload),
        (sqlite_time(at), sqlite_time(rec), json_text(payload)),
        (at.astimezone(UTC).isoformat(), rec.isoformat(), json_text(payload)),
        (at.astimezone(UTC).replace(tzinfo=None), rec, payload),  # a driver's naive UTC
    ]
    for a, r, p in forms:
        row = (*head, a, r, *tail, p, "k-1")
        assert _hash("p" * 64, _Canon().content(row)) == expected, (a, r, p)
    assert _us(rec) == us[1]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"b": 1, "a": {"d": [1.5, 1e16, -0.0, 1e-07, 12345678901234567890], "c": None}},
        {"text": 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f', "满意": "是"},
        {"nan": float("nan"), "inf": float("inf"), "z": [True, False, {"y": "x", "x": "y"}]},
    ],
)
def test_the_assembled_content_is_json_dumps_of_the_row(payload: dict[str, object]) -> None:
    """The content is assembled from its parts (ledger/chain.py): it must stay byte for byte
    json.dumps of the row — escapes, floats, NaN, big integers, NULL columns, key order."""
    import json

    from gridgov.ledger.chain import _Canon
    from gridgov.ledger.rows import json_text, sqlite_time

    at = datetime(2026, 10, 19, 1, 30, 1, 5, tzinfo=UTC)
    us = int(at.timestamp()) * 1_000_000 + at.microsecond
    for dept, community, frm in [(None, None, None), ("ZCG", 'a"\\b', "handled")]:
        head = [9, 2, "rated", "市民\n", "citizen", dept, community]
        tail = [frm, "rated"]
        expected = json.dumps(
            [*head, us, us, *tail, payload, "k\u2028"],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        for p in (payload, json_text(payload)):
            row = (*head, at, sqlite_time(at), *tail, p, "k\u2028")
            assert _Canon().content(row) == expected, (dept, p)


def test_steps_as_columns_hash_as_the_same_events_as_rows(runtime: Runtime) -> None:
    """chain.hash_steps then store_hashes (the importer's way: a bulk writer's trails as
    columns, constants given once, times as µs) store the hashes chain.link stores for the
    same events as rows: new trails from GENESIS and a trail continued from a stored head;
    NULLs, escapes, payload objects."""
    from gridgov.ledger.chain import GENESIS, HASHED, Same, Step, hash_steps, link, store_hashes
    from gridgov.ledger.rows import json_text, sqlite_time

    at = datetime(2026, 10, 19, 1, 30, 1, 5, tzinfo=UTC)
    us = int(at.timestamp()) * 1_000_000 + at.microsecond
    payloads = [{"b": 1, "a": 'q"\\\n满意'}, {}, {"x": [1.5, None, True]}]
    first = {
        "case_id": [901, 902, 903],
        "seq": [1, 1, 4],
        "kind": Same("created"),
        "actor": Same("import:x"),
        "role": Same("system"),
        "department": [None, "ZCG", 'a"b'],
        "community": Same(None),
        "at": [us, us + 1, us + 2],
        "recorded_at": Same(us),
        "from_status": [None, None, "handled"],
        "to_status": Same("reported"),
        "payload": payloads,
        "idempotency_key": ["k1", "k2\u2028", "k3"],
    }
    second = {
        **first,
        "case_id": [901, 903],
        "seq": [2, 5],
        "kind": Same("closed"),
        "payload": [{"z": 1}, {"y": "满意"}],
        "at": [us + 5, us + 6],
        "department": [None, None],
        "from_status": ["reported", "reported"],
        "idempotency_key": ["k4", "k5"],
    }
    steps = [Step([0, 1, 2], first), Step([0, 2], second)]
    rows = []
    for step in steps:
        for j in range(len(step.trails)):
            row = []
            for c in HASHED:
                v = step.values[c]
                v = v.value if isinstance(v, Same) else v[j]
                if c in ("at", "recorded_at"):
                    v = sqlite_time(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=v))
                row.append(json_text(v) if c == "payload" else v)
            rows.append(tuple(row))
    rows.sort(key=lambda r: (r[0], r[1]))
    stored = "e" * 64  # case 903's stored head at seq 3
    engine = runtime.engine
    h = EventHash.__table__.c
    got = {}
    for how in ("rows", "steps"):
        with engine.connect() as conn:  # rolled back: each way starts from the same ledger
            if how == "rows":
                link(conn, rows, {(903, 3): stored})
            else:
                store_hashes(conn, hash_steps([GENESIS, GENESIS, stored], steps))
            got[how] = conn.execute(
                select(h.case_id, h.seq, h.hash).where(h.case_id > 900).order_by(h.case_id, h.seq)
            ).all()
            conn.rollback()
    assert [r[:2] for r in got["steps"]] == [(901, 1), (901, 2), (902, 1), (903, 4), (903, 5)]
    assert got["steps"] == got["rows"]


def test_many_hashes_are_stored_as_few(runtime: Runtime) -> None:
    """Past a few hundred rows the hashes go in as one statement (SQLite: one JSON text
    through json_each; PostgreSQL: COPY); they read back as the rows given, typed."""
    from gridgov.ledger.chain import store_hashes
    from gridgov.ledger.fastrows import COPY_FROM

    h = EventHash.__table__.c
    rows = [(900_000 + i // 3, i % 3 + 1, f"{i:064x}") for i in range(COPY_FROM + 50)]
    with runtime.engine.connect() as conn:  # rolled back
        store_hashes(conn, rows)
        back = conn.execute(
            select(h.case_id, h.seq, h.hash, h.checkpoint_id)
            .where(h.case_id >= 900_000)
            .order_by(h.case_id, h.seq)
        ).all()
        conn.rollback()
    assert [tuple(r) for r in back] == [(*r, None) for r in rows]
    assert all(type(r[0]) is int and type(r[1]) is int for r in back)
