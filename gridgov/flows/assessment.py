"""The monthly assessment flow: score the month from the ledger, write the reports, and show
the month to supervisors as Prefect artifacts (a markdown summary and ranking tables)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from gridgov import clock
from gridgov.assessments.audit.runner import AuditReport, run_audit
from gridgov.assessments.engine import assess
from gridgov.assessments.period import Month
from gridgov.assessments.reports import write_reports
from gridgov.assessments.reports.artifacts import ranking_rows, summary_markdown
from gridgov.assessments.reports.files import default_out_dir
from gridgov.assessments.scheme import load_scheme
from gridgov.runtime import default_runtime


@flow(name="monthly-assessment", log_prints=True)
async def monthly_assessment(
    month: str | None = None,
    scheme: str = "default",
    out_dir: str | None = None,
    audit: bool = True,
) -> dict[str, Any]:
    """月度考核: departments, communities, grids and sunk staff for one month (``YYYY-MM``;
    default: the last complete month). With ``audit``, the month's data and the reports just
    written are audited too, and the artifact links the audit's offline page."""
    log = get_run_logger()
    rt = default_runtime()
    now = clock.now()
    m = Month.parse(month) if month else Month.previous(now, rt.calendar.tz)
    chosen = load_scheme(scheme)
    # The work is CPU-bound pandas; a thread keeps the event loop (and Prefect's heartbeat) free.
    a = await asyncio.to_thread(
        assess, rt.engine, rt.calendar, m, chosen, now=now, progress=lambda s: log.info(s)
    )
    out = Path(out_dir) if out_dir else default_out_dir(rt.settings.home, m.label)
    files = await asyncio.to_thread(write_reports, a, out)
    audited: AuditReport | None = None
    if audit:
        audited = await asyncio.to_thread(
            run_audit,
            rt.engine,
            rt.calendar,
            m,
            now=now,
            docs_dir=out / "audit",
            reports_dir=out,
            ledger=rt.engine.url.render_as_string(hide_password=True),
            progress=lambda s: log.info("audit: %s", s),
        )
    key = f"assessment-{m.label}"
    await acreate_markdown_artifact(
        key=key,
        markdown=summary_markdown(a, files, audited),
        description=f"Monthly assessment {m.label}",
    )
    for level, label in (("department", "departments"), ("community", "communities")):
        await acreate_table_artifact(
            key=f"{key}-{label}",
            table=ranking_rows(a.tables[level]),
            description=f"{m.label}: {label} ranked by score ({chosen.name} scheme)",
        )
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in a.timings.items())
    log.info("assessed %s (%s); reports in %s", m.label, timings, out)
    return {
        "month": m.label,
        "scheme": chosen.name,
        "html": str(files.html),
        "xlsx": str(files.xlsx),
        "totals": a.totals,
        "audit": None if audited is None else str(audited.docs),
        "audit_failed": [] if audited is None else [r.check for r in audited.failed],
    }
