"""Run the audit: extract, derive, validate with Great Expectations, write Data Docs."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from gridgov.assessments.audit.checks import AuditFrames, build_frames
from gridgov.assessments.audit.extract import RAW_COUNTS, read_audit
from gridgov.assessments.audit.suites import Check, build_checks
from gridgov.assessments.engine import count_tables
from gridgov.assessments.extract import read_ledger
from gridgov.assessments.facts import derive
from gridgov.assessments.period import Month, Window
from gridgov.domain.calendar import WorkingCalendar

INDEX_COLUMNS = {
    "cases": ["case_no"],
    "closed": ["case_no"],
    "events": ["case_id", "seq"],
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
) -> AuditReport:
    """Validate the month's ledger data; with ``docs_dir``, also build Data Docs there."""
    window = Window.of(month, cal.tz, now)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ex = read_audit(engine, window)
    frames = build_frames(ex, cal)
    kpi = kpi_frame(engine, cal, window, ex.raw_counts)
    timings["extract and derive"] = time.perf_counter() - t0
    checks = build_checks(frames.reference)
    t1 = time.perf_counter()
    results, docs = validate(frames, kpi, checks, month.label, docs_dir)
    timings["great expectations"] = time.perf_counter() - t1
    rows = {"cases": len(frames.cases), "events": len(frames.events)}
    return AuditReport(window, results, rows, docs, timings)


def _context(docs_dir: Path | None) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx  # slow import (~3 s): only when auditing
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx: Any
    if docs_dir is None:
        ctx = gx.get_context(mode="ephemeral")
    else:
        docs_dir.mkdir(parents=True, exist_ok=True)
        ctx = gx.get_context(mode="file", project_root_dir=str(docs_dir))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def validate(
    frames: AuditFrames,
    kpi: pd.DataFrame,
    checks: list[Check],
    label: str,
    docs_dir: Path | None,
) -> tuple[list[CheckResult], Path | None]:
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction

    data = {"cases": frames.cases, "closed": frames.closed, "events": frames.events, "kpi": kpi}
    by_id = {c.id: c for c in checks}
    with warnings.catch_warnings():
        # GE 1.x warns about its own deprecated internals on every run; not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        ctx = _context(docs_dir)
        source = ctx.data_sources.add_or_update_pandas("ledger")
        definitions = []
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
            definitions.append((name, vd))
        results: list[CheckResult] = []
        docs: Path | None = None
        for name, vd in definitions:
            fmt = {
                "result_format": "COMPLETE",
                "unexpected_index_column_names": INDEX_COLUMNS[name],
                "partial_unexpected_count": 5,
            }
            if docs_dir is None:
                res = vd.run(batch_parameters={"dataframe": data[name]}, result_format=fmt)
            else:
                cp = ctx.checkpoints.add_or_update(
                    gx.Checkpoint(
                        name=f"audit-{name}",
                        validation_definitions=[vd],
                        actions=[UpdateDataDocsAction(name="data-docs")],
                        result_format=fmt,
                    )
                )
                run = cp.run(batch_parameters={"dataframe": data[name]})
                res = next(iter(run.run_results.values()))
            results += [_result(r, by_id) for r in res.results]
        if docs_dir is not None:
            docs = docs_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    order = {c.id: i for i, c in enumerate(checks)}
    results.sort(key=lambda r: order.get(r.check, len(order)))
    return results, docs


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
        examples=list(examples)[:5],
        error=error,
    )
