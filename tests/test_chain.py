"""The tamper-evident trail: a clean simulated month verifies; each tampering an afternoon of
falsifying found — made by plain SQL as the database owner (past the append-only triggers),
consistent enough to pass the audit's checks — makes ``verify-trail`` fail naming the case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, select, update
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.domain.lifecycle import SYSTEM, EventKind
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger import append_only
from gridgov.ledger.chain import load_private, load_public, new_key, seal, verify
from gridgov.ledger.models import Case, CaseEvent
from gridgov.ledger.seal_models import EventHash, TrailCheckpoint
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
        note = conn.scalar(select(TrailCheckpoint.note))
    assert note == f"first checkpoint: chain computed once for {rep.events} existing events"
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
    conn.execute(delete(EventHash).where(EventHash.event_id == sup.id))
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
    assert "(handled)" in first_b and "differs from the sealed trail" in first_b
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
        assert f"{trail.cases['H']} event 7 (rated): differs from the sealed trail" in bad.output
        sealed = runner.invoke(app, ["audit", "seal", "--key", str(trail.private)])
        assert sealed.exit_code == 0, sealed.output
        assert "checkpoint 2: 0 events of 0 cases sealed" in sealed.output
    finally:
        reset_runtime()
