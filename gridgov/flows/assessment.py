"""The monthly assessment flow: score the month from the ledger, write the reports, and show
the month to supervisors as Prefect artifacts (a markdown summary and ranking tables).

The scheduled run (no ``month``) assesses every month not assessed yet, oldest first, each
exactly once: after the server or the workers were down over the 1st, the next run catches up
the months it missed, and a backlog of late scheduled runs finds nothing left to do. The
ledger's ``monthly-assessment`` hold (a short lease renewed while the run works,
``gridgov.flows.holding``) keeps two runs apart and records the last month done
(``job_holds.last_period``, written after each month). See docs/operations.md.
"""

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
from gridgov.flows.holding import job_hold
from gridgov.ledger import holds
from gridgov.runtime import Runtime, default_runtime

# A stack down longer than a year is restored by hand (gridgov assess --month), not here.
CATCH_UP_MONTHS = 12


def months_due(last_done: str | None, previous: Month, limit: int = CATCH_UP_MONTHS) -> list[Month]:
    """The months a scheduled run assesses, oldest first: every month after ``last_done`` up
    to ``previous`` (the last complete month), at most the ``limit`` latest; on a ledger
    never assessed by schedule, ``previous`` only (history is assessed by hand)."""
    if last_done is None:
        return [previous]
    months, m = [], Month.parse(last_done).next()
    while m <= previous:
        months.append(m)
        m = m.next()
    return months[-limit:]


@flow(name="monthly-assessment", log_prints=True)
async def monthly_assessment(
    month: str | None = None,
    scheme: str = "default",
    out_dir: str | None = None,
    audit: bool = True,
) -> dict[str, Any]:
    """月度考核: departments, communities, grids and sunk staff for one month (``YYYY-MM``, by
    hand: assessed again, reports replaced) or, scheduled (no ``month``), every complete month
    not assessed yet. With ``audit``, the month's data and the reports just written are
    audited too, and the artifact links the audit's offline page."""
    rt = default_runtime()
    if month:
        return await _assess_month(rt, Month.parse(month), scheme, out_dir, audit)
    factory = rt.book.factory
    now = clock.now()
    done: list[dict[str, Any]] = []
    async with job_hold(factory, holds.MONTHLY) as hold:
        if not hold.held:
            return {"months": [], "assessed": [], "skipped": True, "holder": hold.other}
        last = await asyncio.to_thread(holds.last_period, factory, holds.MONTHLY)
        for m in months_due(last, Month.previous(now, rt.calendar.tz)):
            # One month at a time, marked as soon as it is done: a crash in the next one
            # never repeats this one.
            out = str(Path(out_dir) / m.label) if out_dir else None
            done.append(await _assess_month(rt, m, scheme, out, audit))
            await asyncio.to_thread(holds.mark_period, factory, holds.MONTHLY, hold.holder, m.label)
        hold.completed_at = clock.now()
    return {"months": [d["month"] for d in done], "assessed": done, "skipped": False}


async def _assess_month(
    rt: Runtime, m: Month, scheme: str, out_dir: str | None, audit: bool
) -> dict[str, Any]:
    log = get_run_logger()
    now = clock.now()
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
