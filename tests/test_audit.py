"""Audits: a clean ledger passes every check; each kind of corruption (a direct SQL UPDATE on
the ledger, bypassing the case book) fails the check that names it — and only that one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, make_url, select, text, update
from typer.testing import CliRunner

from gridgov.assessments.audit.runner import AuditReport, run_audit
from gridgov.assessments.engine import assess
from gridgov.assessments.period import Month
from gridgov.assessments.scheme import load_scheme
from gridgov.cli.main import app
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger import append_only
from gridgov.ledger.models import Case, CaseEvent
from gridgov.runtime import build_runtime, reset_runtime
from gridgov.settings import Settings
from tests.conftest import PG_MISSING, PG_URL
from tests.test_assessment_sample import Ledger, build_october, sample_ledger

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


@dataclass
class Audited:
    lg: Ledger
    cases: dict[str, str]  # story letter → case number

    @property
    def engine(self) -> Engine:
        return self.lg.rt.engine

    def id(self, story: str) -> int:
        return self.lg.book.get(self.cases[story]).id

    def audit(self) -> AuditReport:
        return run_audit(self.engine, self.lg.rt.calendar, Month(2026, 10), now=NOW)

    def update_case(self, story: str, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(Case).where(Case.id == self.id(story)).values(**values))

    def update_event(
        self, story: str, seq: int | None, of_kind: str | None, /, **values: object
    ) -> None:
        stmt = update(CaseEvent).where(CaseEvent.case_id == self.id(story))
        if seq is not None:
            stmt = stmt.where(CaseEvent.seq == seq)
        if of_kind is not None:
            stmt = stmt.where(CaseEvent.kind == of_kind)
        with self.engine.begin() as conn:  # as a database owner would: past the triggers
            append_only.remove(conn)
            assert conn.execute(stmt.values(**values)).rowcount == 1
            append_only.install(conn)


ROWS = (Case.__table__, CaseEvent.__table__)


def _rows(engine: Engine) -> dict[str, list[dict[str, object]]]:
    with engine.connect() as conn:
        return {
            t.name: [dict(r) for r in conn.execute(select(t).order_by(t.c.id)).mappings()]
            for t in ROWS
        }


def _restore(engine: Engine, saved: dict[str, list[dict[str, object]]]) -> None:
    """Put every case and event row back as saved (the corruptions only update rows)."""
    if _rows(engine) == saved:
        return
    with engine.begin() as conn:  # as the corruptions do: past the append-only triggers
        append_only.remove(conn)
        for t in ROWS:
            for row in saved[t.name]:
                conn.execute(update(t).where(t.c.id == row["id"]).values(**row))
        append_only.install(conn)
    assert _rows(engine) == saved


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def october(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    catalog: Catalog,
) -> Iterator[tuple[Ledger, dict[str, str], dict[str, list[dict[str, object]]]]]:
    """The sample October, built once per backend for the module (building it is most of a
    test's time); each test's changes are undone by ``audited``. PostgreSQL: a schema of
    its own (the shared test schema is truncated by other fixtures)."""
    schema = ""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("audit") / "ledger.sqlite3"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        if PG_MISSING:
            pytest.skip(PG_MISSING)
        schema = f"gridgov_test_f_{uuid.uuid4().hex[:8]}"
        with create_engine(PG_URL).begin() as conn:
            conn.execute(text(f'create schema "{schema}"'))
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url = url.render_as_string(hide_password=False)
    rt = build_runtime(Settings(database_url=url), catalog)
    try:
        lg = sample_ledger(rt, catalog)
        cases = build_october(lg)
        yield lg, cases, _rows(rt.engine)
    finally:
        rt.engine.dispose()
        if schema:
            with create_engine(PG_URL).begin() as conn:
                conn.execute(text(f'drop schema "{schema}" cascade'))


@pytest.fixture
def audited(
    october: tuple[Ledger, dict[str, str], dict[str, list[dict[str, object]]]],
) -> Iterator[Audited]:
    lg, cases, saved = october
    _restore(lg.rt.engine, saved)
    yield Audited(lg, cases)
    _restore(lg.rt.engine, saved)


def test_clean_ledger_passes_every_check(audited: Audited) -> None:
    report = audited.audit()
    assert report.success, [(r.check, r.examples, r.error) for r in report.failed]
    assert len(report.results) == 48
    assert report.rows == {"cases": 12, "events": 86}  # N is open: in October's scope


@dataclass(frozen=True)
class Corruption:
    name: str
    story: str  # the case the failing rows must name
    apply: Callable[[Audited], None]
    checks: frozenset[str]  # exactly the checks it must fail
    also_touches: str = ""  # another case whose row it changes

    @property
    def touches(self) -> set[str]:
        return {self.story, self.also_touches} - {""}


def _c(
    name: str, story: str, apply: Callable[[Audited], None], *checks: str, also: str = ""
) -> Corruption:
    return Corruption(name, story, apply, frozenset(checks), also)


def _case(story: str, **values: object) -> Callable[[Audited], None]:
    return lambda a: a.update_case(story, **values)


def _event(
    story: str, seq: int | None, kind: str | None, /, **values: object
) -> Callable[[Audited], None]:
    return lambda a: a.update_event(story, seq, kind, **values)


def _shift(story: str, column: str, delta: timedelta) -> Callable[[Audited], None]:
    def corrupt(a: Audited) -> None:
        current = getattr(a.lg.book.get(a.cases[story]), column)
        a.update_case(story, **{column: current + delta})

    return corrupt


def _before_opened(a: Audited) -> None:
    case = a.lg.book.get(a.cases["C"])  # still in October, so still in the audit's scope
    a.update_case("C", closed_at=case.opened_at - timedelta(hours=1))


def _duplicate_number(a: Audited) -> None:
    a.update_case("B", case_no=a.cases["A"].lower())  # unique to SQL, the same case number


CORRUPTIONS = [
    # Both rows now carry A's number (one in lower case).
    _c("duplicate case number", "A", _duplicate_number, "case_no_unique", "case_no_format",
       also="B"),
    # A missing deadline is also a deadline that no longer matches the catalogue.
    _c("required field missing", "D", _case("D", handle_due=None),
       "required_handle_due", "deadline_handle"),
    _c("closed case without closed_at", "I", _case("I", closed_at=None),
       "closed_has_closed_at", "kpi_reconciles", "closed_at_matches_trail"),
    _c("closed before opened", "C", _before_opened, "closed_after_opened",
       "closed_at_matches_trail"),
    _c("event out of time order", "D",
       _event("D", 4, "arrived", at=datetime(2026, 10, 26, 0, tzinfo=UTC)),
       "events_in_time_order"),
    _c("gap in the trail", "H", _event("H", None, "closed", seq=100), "trail_complete"),
    _c("status disagrees with the trail", "E", _case("E", status="in_progress"),
       "status_matches_trail"),
    _c("field fix drawn for a spot check, never reviewed", "F", _case("F", spot_check=True),
       "closure_reviewed"),
    _c("closed without a passed review", "A",
       _event("A", None, "review_passed", kind="review_started"), "closure_reviewed",
       "transition_allowed"),
    # Version 2 starts on 15 Oct; I was opened on 14 Oct (and v2 has other deadlines).
    _c("item version not in force", "I", _case("I", item_version=2),
       "item_version_valid", "deadline_handle"),
    _c("acknowledge deadline edited", "K", _shift("K", "acknowledge_due", timedelta(hours=1)),
       "deadline_acknowledge"),
    _c("extended handle deadline edited", "C", _shift("C", "handle_due", timedelta(minutes=30)),
       "deadline_handle"),
    _c("arrive deadline edited", "B", _shift("B", "arrive_due", timedelta(minutes=-5)),
       "deadline_arrive"),
    _c("review deadline edited", "H", _shift("H", "review_due", timedelta(days=1)),
       "deadline_review"),
    # A street code where a community belongs; the community tables then miss the case.
    _c("unknown community", "I", _case("I", community_code="ZQ-S1"),
       "known_community", "grid_in_community", "kpi_reconciles"),
    _c("grid of another community", "J", _case("J", grid_code="ZQ-S2-C3-G1"),
       "grid_in_community"),
    _c("unknown department on an event", "B",
       _event("B", None, "acknowledged", department="NOPE"), "known_event_department",
       "actor_holds_case"),
    _c("rating out of range", "E", _case("E", rating="excellent"), "rating_in_range",
       "rating_matches_trail"),
    _c("callback rating out of range", "H",
       _event("H", 7, "rated", payload={"rating": "great"}), "event_rating_in_range"),
    # What a department wanting a better rank would change (issue 16).
    _c("holder moved with no re-route", "D", _case("D", assignee="ZSC"), "holder_matches_trail"),
    _c("rating improved on the case only", "B", _case("B", rating="satisfied"),
       "rating_matches_trail"),
    _c("dispatch target edited in place", "A",
       _event("A", None, "dispatched", payload={"department": "ZSC"}),
       "holder_matches_trail", "actor_holds_case"),
    _c("review passed by the handling department's officer", "C",
       _event("C", None, "review_passed", department="ZSC"), "review_independent"),
    _c("event fired by a role the table forbids", "H",
       _event("H", None, "reopened", role="citizen"), "role_allowed"),
    _c("event starts from another state", "E",
       _event("E", None, "acknowledged", from_status="reported"),
       "status_chained", "transition_allowed"),
    _c("handling time moved on the case only", "B",
       _shift("B", "handled_at", timedelta(hours=-20)), "handled_at_matches_trail"),
    # Moving a closure into November: the KPI tables lose it, the event log still has it.
    _c("KPI does not reconcile", "A", _shift("A", "closed_at", timedelta(days=40)),
       "kpi_reconciles", "closed_at_matches_trail"),
]  # fmt: skip


def _batches(items: list[Corruption]) -> list[list[Corruption]]:
    """Corruptions that touch different cases and different checks can share one ledger:
    each failing check is then still pinned to one corruption by the rows it names."""
    batches: list[list[Corruption]] = []
    for c in items:
        for b in batches:
            if all(not c.touches & o.touches and not c.checks & o.checks for o in b):
                b.append(c)
                break
        else:
            batches.append([c])
    return batches


BATCHES = _batches(CORRUPTIONS)


def _named_case(a: Audited, example: dict[str, object], ids: dict[int, str]) -> str:
    if "case_no" in example:
        return str(example["case_no"]).strip().upper()
    return ids[int(example["case_id"])]  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "batch", [pytest.param(b, id=" + ".join(c.name for c in b)) for b in BATCHES]
)
def test_each_corruption_fails_its_check_and_names_the_case(
    audited: Audited, batch: list[Corruption]
) -> None:
    ids = {audited.id(k): no for k, no in audited.cases.items()}
    for c in batch:
        c.apply(audited)
    report = audited.audit()
    failed = {r.check: r for r in report.failed}
    assert set(failed) == set().union(*(c.checks for c in batch))
    for c in batch:
        for check in c.checks - {"kpi_reconciles"}:
            named = {_named_case(audited, e, ids) for e in failed[check].examples}
            assert named == {audited.cases[c.story]}, (c.name, check, named)
    if "kpi_reconciles" in failed:
        assert {e["metric"] for e in failed["kpi_reconciles"].examples} >= {"closed"}


def test_corruption_batches_cover_every_check_but_the_clean_ones() -> None:
    covered = set().union(*(c.checks for c in CORRUPTIONS))
    assert len(BATCHES) <= 5
    # Unknown assignee/lead/grid/street and event kinds are kept out by foreign keys and the
    # case book; their expectations guard imports and restores, not tested by corruption.
    assert {"known_assignee", "known_lead_department", "known_grid", "known_street",
            "known_event_kind", "required_case_no"} & covered == set()  # fmt: skip
    assert len(covered) == 29


def test_the_assessment_takes_the_holder_from_the_trail_not_the_case_row(
    audited: Audited,
) -> None:
    def overdue() -> dict[str, int]:
        a = assess(audited.engine, audited.lg.rt.calendar, Month(2026, 10), load_scheme(), now=NOW)
        t = a.tables["department"]
        return {d: int(t.loc[d, "overdue"]) for d in ("ZCG", "ZSC")}

    before = overdue()
    audited.update_case("D", assignee="ZSC")  # D is overdue with ZCG; no re-route in its trail
    assert overdue() == before
    assert before["ZCG"] >= 1


@pytest.fixture
def cli_env(audited: Audited, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Audited]:
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", audited.engine.url.render_as_string(False))
    monkeypatch.setenv("GRIDGOV_HOME", str(tmp_path / "home"))
    reset_runtime()
    yield audited
    reset_runtime()


def test_cli_audit_writes_an_offline_page_and_exits_1_naming_the_check_and_case(
    cli_env: Audited, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "a"
    ok = runner.invoke(app, ["audit", "--month", "2026-10", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("auditing 2026-10: loading")  # says something before imports
    assert "all 48 checks passed" in ok.output
    page = out / "audit" / "index.html"
    html = page.read_text(encoding="utf-8")
    # Offline: nothing loaded from elsewhere; our checks' own words, the month and the ledger.
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    assert "2026-10" in html and "all 48 checks passed" in html
    words = "the case&#x27;s assignee is the department its last dispatch/re-route sent it to"
    assert words in html
    assert cli_env.engine.url.database in html
    (out / "audit" / "stale.html").write_text("old run")
    cli_env.update_case("B", rating="excellent")
    bad = runner.invoke(app, ["audit", "--month", "2026-10", "--out", str(out)])
    assert bad.exit_code == 1
    assert "audit failed" in bad.output and "rating_in_range" in bad.output
    b = cli_env.cases["B"]
    assert f"rating_matches_trail: {b}: the case row's rating is excellent" in bad.output
    assert "np." not in bad.output
    assert sorted(p.name for p in (out / "audit").iterdir()) == ["index.html"]  # replaced
    html = page.read_text(encoding="utf-8")
    assert "FAILED" in html and b in html


def test_cli_audit_checks_published_reports_against_the_ledger(
    cli_env: Audited, tmp_path: Path
) -> None:
    runner = CliRunner()
    reports = tmp_path / "published"
    made = runner.invoke(app, ["assess", "--month", "2026-10", "--out", str(reports)])
    assert made.exit_code == 0, made.output
    args = ["audit", "--month", "2026-10", "--out", str(tmp_path / "a"), "--reports", str(reports)]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "all 49 checks passed" in ok.output
    # A hand edit of the published department table: ZCG's overdue count lowered by one.
    path = reports / "2026-10-department.csv"
    df = pd.read_csv(path, encoding="utf-8-sig")
    row = df.index[df["code"] == "ZCG"][0]
    df.loc[row, "overdue"] -= 1
    df.to_csv(path, index=False, encoding="utf-8-sig")
    bad = runner.invoke(app, args)
    assert bad.exit_code == 1, bad.output
    assert "published_reports_match" in bad.output
    assert "2026-10-department.csv: code ZCG, overdue: published" in bad.output
