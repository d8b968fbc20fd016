"""Run the audit: extract, derive, validate with Great Expectations, write the offline page."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine

from gridgov.assessments.audit.checks import AuditFrames, build_frames
from gridgov.assessments.audit.extract import RAW_COUNTS, read_audit
from gridgov.assessments.audit.falsification import EXPLAIN_CASE
from gridgov.assessments.audit.page import render_page, write_page
from gridgov.assessments.engine import count_tables
from gridgov.assessments.extract import read_ledger
from gridgov.assessments.facts import derive
from gridgov.assessments.period import Month, Window
from gridgov.domain.calendar import WorkingCalendar

if TYPE_CHECKING:
    from gridgov.assessments.audit.suites import Check

MAX_DETAILS = 20
INDEX_COLUMNS = {
    "cases": ["case_no"],
    "closed": ["case_no"],
    "events": ["case_no", "seq", "kind", "problem"],
    "kpi": ["metric"],
}


@dataclass(frozen=True)
class CheckResult:
    check: str
    frame: str
    description: str
    success: bool
    unexpected: int
    examples: list[Any]
    error: str | None = None
    details: list[str] = field(default_factory=list)  # failing case numbers, with what is wrong


@dataclass
class AuditReport:
    window: Window
    results: list[CheckResult]
    rows: dict[str, int]
    docs: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]

    @property
    def success(self) -> bool:
        return not self.failed


def kpi_frame(
    engine: Engine, cal: WorkingCalendar, window: Window, raw: dict[str, int]
) -> pd.DataFrame:
    """Month totals of the KPI code (community table: every case belongs to one community)
    next to the raw SQL counts."""
    ex = read_ledger(engine, window)
    tables = count_tables(derive(ex, cal), ex)
    community = tables["community"]
    rows = [(m, int(community[m].sum()), raw[m]) for m in RAW_COUNTS]
    df = pd.DataFrame(rows, columns=["metric", "kpi", "raw"])
    df["match"] = df["kpi"] == df["raw"]
    return df


def run_audit(
    engine: Engine,
    cal: WorkingCalendar,
    month: Month,
    *,
    now: datetime | None = None,
    docs_dir: Path | None = None,
    reports_dir: Path | None = None,
    ledger: str = "",
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Validate the month's ledger data; with ``reports_dir``, also the published reports
    there; with ``docs_dir``, write the offline HTML page there (the folder is replaced)."""
    say = progress or (lambda _step: None)
    window = Window.of(month, cal.tz, now)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    say("reading the ledger")
    ex = read_audit(engine, window)
    say("recomputing deadlines and trails")
    frames = build_frames(ex, cal)
    say("recounting the KPIs")
    kpi = kpi_frame(engine, cal, window, ex.raw_counts)
    timings["extract and derive"] = time.perf_counter() - t0
    say("loading Great Expectations")
    from gridgov.assessments.audit.suites import build_checks  # slow import: GX (~3 s)

    checks = build_checks(frames.reference)
    t1 = time.perf_counter()
    say("validating")
    results = validate(frames, kpi, checks, month.label)
    timings["great expectations"] = time.perf_counter() - t1
    if reports_dir is not None:
        say("comparing the published reports")
        t2 = time.perf_counter()
        results.append(_published(engine, cal, month, reports_dir))
        timings["published reports"] = time.perf_counter() - t2
    rows = {"cases": len(frames.cases), "events": len(frames.events)}
    docs = None
    if docs_dir is not None:
        say("writing the report")
        html = render_page(
            month.label,
            f"{window.start.isoformat()} to {window.cutoff.isoformat()}",
            ledger,
            rows,
            results,
        )
        docs = write_page(docs_dir, html)
    return AuditReport(window, results, rows, docs, timings)


def _published(engine: Engine, cal: WorkingCalendar, month: Month, folder: Path) -> CheckResult:
    from gridgov.assessments.audit.published import compare_published

    problems, files = compare_published(engine, cal, month, folder)
    if files:  # say what was compared, so a pass is not mistaken for "nothing found"
        problems = problems or []
    return CheckResult(
        check="published_reports_match",
        frame="reports",
        description=f"the published reports in {folder} equal the KPIs recomputed from the ledger",
        success=not problems,
        unexpected=len(problems),
        examples=[],
        details=problems,
    )


def validate(
    frames: AuditFrames,
    kpi: pd.DataFrame,
    checks: list[Check],
    label: str,
) -> list[CheckResult]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx  # slow import (~3 s): only when auditing
    from great_expectations.data_context.types.base import ProgressBarsConfig

    data = {"cases": frames.cases, "closed": frames.closed, "events": frames.events, "kpi": kpi}
    by_id = {c.id: c for c in checks}
    with warnings.catch_warnings():
        # GE 1.x warns about its own deprecated internals on every run; not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        # Ephemeral: GX's Data Docs cannot be read offline; ``audit/page.py`` writes our page.
        ctx: Any = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = ctx.data_sources.add_or_update_pandas("ledger")
        results: list[CheckResult] = []
        for name in data:
            asset = source.add_dataframe_asset(name)
            batch = asset.add_batch_definition_whole_dataframe(f"{name}-{label}")
            # All expectations at once: adding them one by one re-serialises the suite each time.
            expectations = [c.expectation.copy() for c in checks if c.frame == name]
            suite = ctx.suites.add_or_update(
                gx.ExpectationSuite(name=f"ledger-{name}", expectations=expectations)
            )
            vd = ctx.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=f"audit-{name}", data=batch, suite=suite)
            )
            fmt = {
                "result_format": "COMPLETE",
                "unexpected_index_column_names": INDEX_COLUMNS[name],
                "partial_unexpected_count": 5,
            }
            res = vd.run(batch_parameters={"dataframe": data[name]}, result_format=fmt)
            results += [_result(r, by_id) for r in res.results]
    order = {c.id: i for i, c in enumerate(checks)}
    results.sort(key=lambda r: order.get(r.check, len(order)))
    return [
        r if r.success else replace(r, details=explain(r, by_id.get(r.check), data))
        for r in results
    ]


def explain(r: CheckResult, check: Check | None, data: dict[str, pd.DataFrame]) -> list[str]:
    """Up to ``MAX_DETAILS`` lines naming a failing case by its number and what is wrong."""
    column = getattr(check.expectation, "column", None) if check else None
    df = data.get(r.frame)
    if check is None or df is None or column not in df or df[column].dtype != bool:
        return [_example(e) for e in r.examples]
    bad = df[~df[column]].head(MAX_DETAILS)
    if r.frame == "events":
        return [
            f"{row['case_no']} event {row['seq']} ({row['kind']}): "
            + (row["problem"] or check.description)
            for _, row in bad.iterrows()
        ]
    if r.frame == "kpi":
        return [
            f"{row['metric']}: KPI tables {row['kpi']}, ledger events {row['raw']}"
            for _, row in bad.iterrows()
        ]
    words = EXPLAIN_CASE.get(str(column))
    return [
        f"{row['case_no']}: {words(row) if words else 'fails: ' + check.description}"
        for _, row in bad.iterrows()
    ]


def _plain(v: Any) -> Any:
    """numpy scalars → Python values (so nothing prints as ``np.False_``)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v.item() if hasattr(v, "item") and not isinstance(v, str | bytes) else v


def _example(e: Any) -> str:
    e = _plain(e)
    if isinstance(e, dict):
        return ", ".join(f"{k} {v}" for k, v in e.items())
    return str(e)


def _result(r: Any, by_id: dict[str, Check]) -> CheckResult:
    check_id = str((r.expectation_config.meta or {}).get("check", r.expectation_config.type))
    c = by_id.get(check_id)
    info = r.result or {}
    error = None
    if r.exception_info and r.exception_info.get("raised_exception"):
        error = str(r.exception_info.get("exception_message"))
    examples = info.get("unexpected_index_list") or info.get("partial_unexpected_list") or []
    return CheckResult(
        check=check_id,
        frame=c.frame if c else "?",
        description=c.description if c else "",
        success=bool(r.success) and error is None,
        unexpected=int(info.get("unexpected_count") or 0),
        examples=[_plain(e) for e in list(examples)[:5]],
        error=error,
    )
