"""What a supervisor sees of the month in the Prefect UI: table rows and a markdown summary.

Plain data; the flow hands it to ``prefect.artifacts``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from gridgov.assessments.engine import Assessment
from gridgov.assessments.reports.files import ReportFiles

ROW_COLUMNS = (
    "rank",
    "flag",
    "score",
    "due",
    "closed",
    "overdue",
    "closure_rate",
    "on_time_closure_rate",
    "rework_rate",
    "satisfaction_rate",
    "response_timeliness",
)


class AuditSummary(Protocol):
    """What the summary shows of an audit (``assessments.audit.runner.AuditReport``)."""

    @property
    def results(self) -> Sequence[Any]: ...
    @property
    def failed(self) -> Sequence[Any]: ...
    @property
    def docs(self) -> Path | None: ...


def _plain(v: Any) -> Any:
    """JSON-ready: NaN/NA → None, numpy scalars → Python, rates rounded."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        v = v.item()
    return round(v, 4) if isinstance(v, float) else v


def ranking_rows(table: pd.DataFrame, limit: int = 100) -> list[dict[str, Any]]:
    """Ranked units first (best first), then the unranked, at most ``limit`` rows."""
    t = (
        table.reset_index()
        .sort_values(["rank", "score"], ascending=[True, False], na_position="last")
        .head(limit)
    )
    cols = ["code", "name_zh", *(c for c in ROW_COLUMNS if c in t.columns)]
    return [
        {c: _plain(v) for c, v in zip(cols, row, strict=True)}
        for row in t[cols].itertuples(index=False, name=None)
    ]


def _pct(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{100 * v:.1f}%"


def summary_markdown(
    a: Assessment, files: ReportFiles | None, audit: AuditSummary | None = None
) -> str:
    t = a.totals
    lines = [
        f"# Monthly assessment {a.month.label}",
        "",
        f"Scheme **{a.scheme.name}** ({a.scheme.title}); as of "
        f"{a.window.cutoff.astimezone(a.window.tz):%Y-%m-%d %H:%M} Asia/Shanghai"
        f"{'' if a.window.complete else ' — the month is still running'}.",
        "",
        f"Working time: {a.working_time}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| cases due (应结案) | {t['due']:.0f} |",
        f"| closed (结案) | {t['closed']:.0f} |",
        f"| closure rate (结案率) | {_pct(t['closure_rate'])} |",
        f"| on-time closure rate (按期结案率) | {_pct(t['on_time_closure_rate'])} |",
        f"| overdue (超期) | {t['overdue']:.0f} |",
        f"| reported (上报) | {t['reported']:.0f} |",
        f"| due cases charged to no department (awaiting re-route) | {t['unassigned_due']:.0f} |",
        "",
    ]
    for level, title in (
        ("department", "Departments"),
        ("community", "Communities"),
        ("grid", "Grids"),
        ("staff", "Staff"),
    ):
        table = a.tables[level]
        red = table[table["flag"] == "red"]
        yellow = table[table["flag"] == "yellow"]
        names = _names(red, level), _names(yellow, level)
        lines.append(f"**{title}**: {len(red)} red ({names[0]}), {len(yellow)} yellow ({names[1]})")
        lines.append("")
    if files is not None:
        lines += [
            "Reports written to:",
            "",
            f"- HTML: `{files.html}`",
            f"- XLSX: `{files.xlsx}`",
            f"- CSV: `{files.directory}` ({len(files.csv)} files)",
        ]
    if audit is not None:
        failed = audit.failed
        verdict = (
            f"**{len(failed)} of {len(audit.results)} checks FAILED** "
            f"({', '.join(r.check for r in failed)})"
            if failed
            else f"all {len(audit.results)} checks passed"
        )
        lines += ["", f"Audit (审计): {verdict} — offline page: `{audit.docs}`"]
    return "\n".join(lines)


def _names(t: pd.DataFrame, level: str, limit: int = 10) -> str:
    if t.empty:
        return "none"
    keys = t["actor"].astype(str).tolist() if level == "staff" else [str(i) for i in t.index]
    more = f", … {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more
