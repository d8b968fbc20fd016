"""Items and cases without a deadline (issue 17): the catalogue says so explicitly
(``handle: none``), such cases are never overdue, never laddered, and the assessment reports
them as their own group. On SQLite and PostgreSQL, with a catalogue made here."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from gridgov.api.schemas import CaseOut
from gridgov.assessments.audit.checks import build_frames
from gridgov.assessments.audit.extract import read_audit
from gridgov.assessments.engine import assess
from gridgov.assessments.period import Month, Window
from gridgov.assessments.scheme import load_scheme
from gridgov.boards.trail import trail_markdown
from gridgov.domain.enums import Role
from gridgov.domain.errors import CatalogError, InvalidInput
from gridgov.domain.lifecycle import SYSTEM, Actor, EventKind
from gridgov.item_catalog.loader import DEFAULT_DIR, Catalog, load_catalog
from gridgov.ledger.catalog_store import content_hash
from gridgov.ledger.supervision import sweep
from gridgov.runtime import Runtime, build_runtime
from gridgov.settings import Settings
from tests.conftest import at, own_ledger
from tests.test_casebook import DISPATCHER, PATROLLER, REVIEWER, new_case, pick
from tests.test_import_support import NOW, case, run

K = EventKind
# Made up, in the shape of the shipped rows: a consultation answered when it is answered
# (tier 2, no limit at all) and a department item with review but no arrive/handle limit.
ITEMS = """\
items:
  - code: SH-ZX-901
    version: 1
    valid_from: 2025-01-01
    name_zh: 政策咨询
    name_en: Policy enquiry
    family: social
    category: enquiries
    subcategory: policy_enquiry
    tier: 2
    lead_department: COMMUNITY
    filing_condition: 群众来电咨询政策
    closing_condition: 已答复
    evidence: [written_reply]
    sources: [patrol, citizen, hotline]
    deadlines: {acknowledge: none, handle: none, review: none}
  - code: SH-ZX-902
    version: 1
    valid_from: 2025-01-01
    name_zh: 历史遗留问题协调
    name_en: Long-standing issue coordination
    family: social
    category: enquiries
    subcategory: legacy_issue
    tier: 3
    lead_department: CG
    filing_condition: 需部门长期协调
    closing_condition: 协调完成
    evidence: [written_reply]
    sources: [patrol, hotline]
    deadlines:
      acknowledge: {amount: 1, unit: working_days}
      arrive: none
      handle: none
      review: {amount: 1, unit: working_days}
  - code: SH-ZX-903
    version: 1
    valid_from: 2025-01-01
    name_zh: 政策解读
    name_en: Policy explanation
    family: social
    category: enquiries
    subcategory: policy_explanation
    tier: 2
    lead_department: COMMUNITY
    filing_condition: 群众要求解读政策
    closing_condition: 已解读
    evidence: [written_reply]
    sources: [patrol, citizen, hotline]
    deadlines:
      acknowledge: {amount: 2, unit: working_hours}
      handle: {amount: 3, unit: working_days}
      review: {amount: 1, unit: working_days}
"""


def _catalogue_dir(root: Path, items: str) -> Path:
    """The shipped departments and territory with ``items`` as the only item file (fast)."""
    (root / "items").mkdir(parents=True)
    for name in ("departments.yaml", "territory.yaml"):
        shutil.copy(DEFAULT_DIR / name, root / name)
    (root / "items" / "zz.yaml").write_text(items, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def nd_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return load_catalog(_catalogue_dir(tmp_path_factory.mktemp("catalog_d") / "data", ITEMS))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def nd_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, nd_catalog: Catalog
) -> Iterator[str]:
    """A ledger of its own (the catalogue differs from the shipped one), migrated once."""
    with own_ledger(request.param, nd_catalog, tmp_path_factory.mktemp("ledger_d")) as url:
        yield url


@pytest.fixture
def nd(nd_url: str, nd_catalog: Catalog) -> Iterator[Runtime]:
    """The module's ledger: its tests use their own keys and days, so they share it."""
    rt = build_runtime(Settings(database_url=nd_url), nd_catalog)
    yield rt
    rt.engine.dispose()


# ---------------------------------------------------------------- catalogue validation
# (deadlines, tier, what the error says): an empty value is a mistake, never a quiet "no
# limit"; tier 3 must say something about arriving, if only that it has no such limit.
BAD = [
    (
        "{acknowledge: none, handle: null, review: none}",
        2,
        "deadlines.handle: Value error, a time limit is required: {amount, unit}, or none if",
    ),
    ("{acknowledge: none, handle: nope, review: none}", 2, "got 'nope'"),
    ("{acknowledge: none, review: none}", 2, "deadlines.handle: Field required"),
    ("{acknowledge: none, handle: {amount: 0, unit: hours}, review: none}", 2, "greater than 0"),
    (
        "{acknowledge: none, handle: none, review: none}",
        3,
        "tier 3 (department) items need deadlines.arrive ({amount, unit}, or none",
    ),
]


def test_the_catalogue_stays_strict(tmp_path: Path) -> None:
    template = yaml.safe_load(ITEMS)["items"][0]
    rows = [
        {
            **template,
            "code": f"SH-ZX-{800 + i}",
            "tier": tier,
            "lead_department": "CG" if tier == 3 else "COMMUNITY",
            "deadlines": yaml.safe_load(deadlines),
        }
        for i, (deadlines, tier, _) in enumerate(BAD)
    ]
    items = yaml.safe_dump({"items": rows}, allow_unicode=True)
    with pytest.raises(CatalogError) as err:
        load_catalog(_catalogue_dir(tmp_path / "data", items))
    lines = err.value.message.splitlines()
    assert f"has {len(BAD)} error(s); nothing loaded" in lines[0]
    for i, (_, _, said) in enumerate(BAD):
        where = f"items/zz.yaml: items[{i}] (SH-ZX-{800 + i} v1): "
        assert any(where in line and said in line for line in lines), (where, said)


def test_none_is_kept_as_said_and_shipped_rows_hash_as_before(
    nd_catalog: Catalog, catalog: Catalog
) -> None:
    free = nd_catalog.version("SH-ZX-901", 1)
    assert free.deadlines.handle is None and free.deadlines.acknowledge is None
    dumped = free.model_dump(mode="json")["deadlines"]
    assert dumped == {"acknowledge": "none", "arrive": None, "handle": "none", "review": "none"}
    dept = nd_catalog.version("SH-ZX-902", 1).model_dump(mode="json")["deadlines"]
    assert dept["arrive"] == "none" and dept["handle"] == "none"
    # A shipped tier-2 row never wrote ``arrive``: it dumps as before (null), so the content
    # hashes stored by `gridgov init` on existing ledgers still match.
    tier2 = pick(catalog, 2)
    assert tier2.model_dump(mode="json")["deadlines"]["arrive"] is None
    raw = yaml.safe_load(
        next(
            p
            for p in sorted((DEFAULT_DIR / "items").glob("*.yaml"))
            if tier2.code in p.read_text(encoding="utf-8")
        ).read_text(encoding="utf-8")
    )
    stated = next(r for r in raw["items"] if r["code"] == tier2.code)["deadlines"]
    assert {k: v for k, v in tier2.model_dump(mode="json")["deadlines"].items() if v} == {
        k: {"amount": float(v["amount"]), "unit": v["unit"]} for k, v in stated.items()
    }
    assert len(content_hash(tier2)) == 64


# ---------------------------------------------------------------- the ledger, both backends
def test_a_case_without_limits_is_never_due_nor_laddered(nd: Runtime) -> None:
    cat, book = nd.catalog, nd.book
    item = cat.version("SH-ZX-901", 1)
    opened = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9), "o1").case
    assert (opened.acknowledge_due, opened.handle_due, opened.review_due) == (None, None, None)
    assert opened.clock_due is None and opened.next_sweep_at is None and not opened.overdue
    out = CaseOut.of(opened)
    assert out.no_deadline is True and out.model_dump()["no_deadline"] is True
    # Weeks later the sweep still has nothing to say about it.
    assert sweep(book, at(2026, 12, 28, 9)) == []
    assert book.get(opened.case_no).supervision_level is None
    page = trail_markdown(
        book.get(opened.case_no), book.trail(opened.case_no), "x", cat, ZoneInfo("Asia/Shanghai")
    )
    assert "处置时限 无时限" in page


def test_department_item_runs_its_stated_limits_only(nd: Runtime) -> None:
    cat, book = nd.catalog, nd.book
    item = cat.version("SH-ZX-902", 1)
    dept = Actor(Role.DEPARTMENT, "officer", department="CG")
    no = book.open_case(new_case(cat, item), PATROLLER, at(2026, 11, 23, 9), "o2").case.case_no
    d = book.act(no, K.DISPATCHED, DISPATCHER, at(2026, 11, 23, 9, 5), "d2").case
    # Acknowledging has a limit (1 working day): it runs and is laddered as usual.
    assert d.clock_kind == "acknowledge" and d.clock_due is not None
    assert d.next_sweep_at is not None and d.handle_due is None and d.arrive_due is None
    a = book.act(no, K.ACKNOWLEDGED, dept, at(2026, 11, 23, 10), "a2").case
    # Arriving and handling have none: the case waits with nothing falling due.
    assert a.clock_kind == "arrive" and a.clock_due is None and a.next_sweep_at is None
    assert CaseOut.of(a).no_deadline is True
    # Nothing to extend: refused, and nothing stored.
    before = len(book.trail(no))
    with pytest.raises(InvalidInput, match="no handling deadline") as err:
        book.act(
            no,
            K.EXTENSION_REQUESTED,
            dept,
            at(2026, 11, 23, 11),
            "er2",
            {"amount": 2, "unit": "working_days", "reason": "waiting"},
        )
    assert err.value.field == "kind"
    assert len(book.trail(no)) == before
    assert sweep(book, at(2026, 12, 20, 9)) == []
    book.act(no, K.ARRIVED, dept, at(2026, 12, 21, 9), "ar2")
    h = book.act(no, K.HANDLED, dept, at(2026, 12, 22, 9), "h2", {"evidence": ["r://1"]}).case
    # The review limit is stated: it runs from the handling.
    assert h.clock_kind == "review" and h.review_due is not None and h.next_sweep_at is not None
    book.act(no, K.REVIEW_STARTED, REVIEWER, at(2026, 12, 22, 10), "rs2")
    f = book.act(no, K.REVIEW_FAILED, REVIEWER, at(2026, 12, 22, 11), "rf2", {"reason": "no"})
    assert f.case.handle_due is None and f.event.payload["handle_due"] is None
    assert not book.get(no).overdue


def test_assessment_reports_them_as_their_own_group(nd: Runtime) -> None:
    cat, book = nd.catalog, nd.book
    free = cat.version("SH-ZX-901", 1)
    timed = cat.version("SH-ZX-903", 1)
    team = Actor(Role.COMMUNITY, "team", community=new_case(cat, timed)["community"])
    for i, item in enumerate((free, timed, free)):
        no = book.open_case(
            new_case(cat, item), PATROLLER, at(2026, 10, 12, 9), f"ao{i}"
        ).case.case_no
        book.act(no, K.DISPATCHED, DISPATCHER, at(2026, 10, 12, 9, 5), f"ad{i}")
        if i == 2:
            continue  # still open at the cutoff, with no deadline: not due, not overdue
        book.act(no, K.ACKNOWLEDGED, team, at(2026, 10, 12, 9, 30), f"aa{i}")
        book.act(no, K.HANDLED, team, at(2026, 10, 12, 10), f"ah{i}", {"evidence": ["p://1"]})
        book.act(no, K.REVIEW_STARTED, REVIEWER, at(2026, 10, 12, 11), f"ars{i}")
        book.act(no, K.REVIEW_PASSED, REVIEWER, at(2026, 10, 12, 12), f"arp{i}")
        book.act(no, K.CLOSED, SYSTEM, at(2026, 10, 12, 12), f"ac{i}")
    a = assess(nd.engine, nd.calendar, Month.parse("2026-10"), load_scheme("default"))
    t = a.totals
    # The timed case is due and closed on time; the closed free one is its own group.
    assert (t["due"], t["closed"], t["closed_on_time"], t["overdue"]) == (1, 1, 1, 0)
    assert t["closed_no_deadline"] == 1 and t["on_time_closure_rate"] == 1.0
    community = a.tables["community"].loc[team.community]
    assert community["closed_no_deadline"] == 1 and community["due"] == 1
    cohort = a.cohort
    assert int(cohort["no_deadline"].sum()) == 2 and int(cohort["opened"].sum()) == 3
    assert float(cohort["on_time_closure_rate"].max()) == 1.0  # 1 of the 1 case with a limit


# ---------------------------------------------------------------- imported histories
def test_imported_rows_without_a_deadline_have_none(runtime: Runtime, tmp_path: Path) -> None:
    summary, rejects = run(runtime, "no_deadline.csv", "no_deadline_mapping.yaml", tmp_path)
    assert (summary.imported, rejects) == (4, [])
    kept, free, stale, late = (case(runtime, f"ND-{i}") for i in range(1, 5))
    assert kept.deadline_source == "source" and kept.handle_due is not None
    assert not kept.overdue
    # The source set no deadline: none is invented, and none is ever missed.
    assert free.deadline_source == "source" and free.handle_due is None and not free.overdue
    assert stale.handle_due is None and not stale.overdue and stale.overdue_since is None
    assert stale.clock_due is None and stale.next_sweep_at is None
    assert CaseOut.model_validate(stale).no_deadline is True
    assert late.overdue and late.handle_due is not None
    assert [a.case_no for a in sweep(runtime.book, at(2026, 12, 1, 9))] == []
    a = assess(runtime.engine, runtime.calendar, Month.parse("2026-10"), load_scheme("default"))
    # ND-1 closed on time and ND-4 open past its deadline are due; ND-2 is its own group;
    # ND-3 (no deadline, open) counts nowhere but its cohort.
    t = a.totals
    assert (t["due"], t["closed_on_time"], t["overdue"], t["closed_no_deadline"]) == (2, 1, 1, 1)
    # The audit takes the source's word for it: no deadline expected where none was given.
    frames = build_frames(
        read_audit(runtime.engine, Window.of(Month.parse("2026-10"), runtime.calendar.tz, NOW)),
        runtime.calendar,
    )
    assert len(frames.cases) == 4
    for limit in ("acknowledge", "arrive", "handle", "review"):
        assert frames.cases[f"{limit}_due_matches"].all(), limit
