"""A self-contained HTML report: inline CSS, charts as base64 PNGs, no external files."""

from __future__ import annotations

import base64
import math
from html import escape
from typing import Any

import pandas as pd

from gridgov.assessments.engine import Assessment
from gridgov.assessments.reports import charts

CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
tr.red td{background:#fde0dc} tr.yellow td{background:#fff4c2}
.kpis{display:flex;gap:1.5em;flex-wrap:wrap} .kpi{border:1px solid #ddd;padding:.6em 1em}
.kpi b{display:block;font-size:1.5em} img{max-width:100%} .note{color:#666;font-size:12px}
"""
UNIT_COLUMNS = (
    "rank",
    "flag",
    "score",
    "due",
    "closed",
    "closed_on_time",
    "overdue",
    "closure_rate",
    "on_time_closure_rate",
    "overdue_rate",
    "extension_rate",
    "rework_rate",
    "response_timeliness",
    "arrival_timeliness",
    "satisfaction_rate",
    "returns",
    "returns_accepted",
    "mean_handling_hours",
    "p90_handling_hours",
)
STAFF_COLUMNS = (
    "rank",
    "flag",
    "actor",
    "role",
    "unit",
    "grid_code",
    "score",
    "local_score",
    "personal_score",
    "actions",
    "handled_due",
    "handled_on_time",
    "handled_overdue",
    "on_time_closure_rate",
    "rework_rate",
    "satisfaction_rate",
)


def _fmt(col: str, v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if col.endswith(("_rate", "_share", "timeliness")):
        return f"{100 * float(v):.1f}%"
    if isinstance(v, float):
        return f"{v:.1f}" if "hours" in col or "score" in col else f"{v:g}"
    return escape(str(v))


def table_html(df: pd.DataFrame, columns: tuple[str, ...], left: tuple[str, ...] = ()) -> str:
    cols = [c for c in columns if c in df.columns]
    head = "".join(f'<th class="{"l" if c in left else ""}">{escape(c)}</th>' for c in cols)
    body = []
    for _, row in df.iterrows():
        cells = "".join(
            f'<td class="{"l" if c in left else ""}">{_fmt(c, row[c])}</td>' for c in cols
        )
        body.append(f'<tr class="{escape(str(row.get("flag", "")))}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _units(t: pd.DataFrame) -> pd.DataFrame:
    t = t.reset_index().sort_values(["rank", "score"], ascending=[True, False], na_position="last")
    return t


def render(a: Assessment) -> str:
    month = a.month.label
    tot = a.totals
    kpis = [
        ("cases due", f"{tot['due']:.0f}"),
        ("closure rate 结案率", _fmt("_rate", tot["closure_rate"])),
        ("on time 按期结案率", _fmt("_rate", tot["on_time_closure_rate"])),
        ("overdue 超期", f"{tot['overdue']:.0f}"),
        ("reported 上报", f"{tot['reported']:.0f}"),
        ("mean handling (wh)", _fmt("hours", tot["mean_handling_hours"])),
    ]
    dept, comm, grid, staff = (a.tables[k] for k in ("department", "community", "grid", "staff"))
    flagged_grids = _units(grid)
    flagged_grids = flagged_grids[flagged_grids["flag"] != ""]
    staff_view = staff.sort_values(["rank", "score"], ascending=[True, False], na_position="last")
    staff_view = pd.concat([staff_view.head(20), staff_view[staff_view["flag"] != ""]])
    staff_view = staff_view[~staff_view.index.duplicated()]
    criteria = "".join(
        f"<tr><td class='l'>{escape(level)}</td><td class='l'>{escape(c.metric)}</td>"
        f"<td class='l'>{escape(c.label or '')}</td><td>{c.weight:g}</td>"
        f"<td>{c.full_at:g}</td><td>{c.zero_at:g}</td></tr>"
        for level in ("department", "community", "grid", "street", "staff")
        for c in a.scheme.level(level).criteria
    )
    parts = [
        f"<!doctype html><html lang='zh'><head><meta charset='utf-8'>"
        f"<title>Monthly assessment {month}</title><style>{CSS}</style></head><body>",
        f"<h1>Monthly assessment 月度考核 — {month}</h1>",
        f"<p class='note'>Scheme <b>{escape(a.scheme.name)}</b>: {escape(a.scheme.title)}. "
        f"As of {escape(a.window.cutoff.astimezone(a.window.tz).isoformat(timespec='minutes'))}"
        f"{'' if a.window.complete else ' (month still running)'}. Counting rules: "
        f"docs/assessment.md. Working time: {escape(a.working_time)}.</p>",
        "<div class='kpis'>"
        + "".join(f"<div class='kpi'>{escape(k)}<b>{v}</b></div>" for k, v in kpis)
        + "</div>",
        "<h2>Department ranking 部门排名</h2>",
        _img(charts.rankings(dept, "Department scores"), "department ranking"),
        table_html(_units(dept), ("code", "name_zh", *UNIT_COLUMNS), ("code", "name_zh", "flag")),
        "<h2>On-time trend 按期结案趋势</h2>",
        _img(charts.on_time_trend(a.trend, month), "on-time trend"),
        "<h2>By opening month 按受理月份 (cohort)</h2>",
        "<p class='note'>Cases opened in each month, wherever they are due, as of the cutoff "
        "(other systems report on-time closure this way; the rankings above count the cases "
        "due in the period). on_time_closure_rate = closed_on_time / opened.</p>",
        table_html(
            a.cohort,
            (
                "opened_month",
                "department",
                "opened",
                "closed",
                "closed_on_time",
                "overdue",
                "still_open",
                "on_time_closure_rate",
            ),
            ("opened_month", "department"),
        ),
        "<h2>Overdue by department 超期</h2>",
        _img(charts.overdue_by_department(dept), "overdue by department"),
        "<h2>Communities 社区</h2>",
        _img(charts.rankings(comm, "Community scores"), "community ranking"),
        table_html(
            _units(comm),
            ("code", "name_zh", *UNIT_COLUMNS, "field_fix_share", "patrol_share"),
            ("code", "name_zh", "flag"),
        ),
        "<h2>Grids 网格</h2>",
        _img(charts.grid_heatmap(grid, a.territory), "grid heat map"),
        "<p>Flagged grids:</p>",
        table_html(flagged_grids, ("code", *UNIT_COLUMNS), ("code", "flag"))
        if len(flagged_grids)
        else "<p>none</p>",
        "<h2>Streets 街道</h2>",
        table_html(
            _units(a.tables["street"]),
            ("code", "name_zh", *UNIT_COLUMNS),
            ("code", "name_zh", "flag"),
        ),
        "<h2>Staff 下沉人员 (top 20 and flagged)</h2>",
        f"<p class='note'>score = {a.scheme.staff.local_share:g} × community/grid score + "
        f"{a.scheme.staff.street_share:g} × the street's score of the person's own record.</p>",
        table_html(staff_view, STAFF_COLUMNS, ("actor", "role", "unit", "grid_code", "flag")),
        "<h2>Scheme 考核方案</h2>",
        "<table><tr><th class='l'>level</th><th class='l'>metric</th><th class='l'>label</th>"
        f"<th>weight</th><th>full at</th><th>zero at</th></tr>{criteria}</table>",
        "</body></html>",
    ]
    return "\n".join(parts)
