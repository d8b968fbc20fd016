"""CSV and XLSX tables of an assessment (every column of every table)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from gridgov.assessments.engine import TABLES, Assessment

RATE_FORMAT = "0.0%"
RATES_SUFFIX = ("_rate", "_share", "timeliness")


def frames(a: Assessment) -> dict[str, pd.DataFrame]:
    """The sheets: summary, the five tables, the daily trend and the scheme's criteria."""
    out: dict[str, pd.DataFrame] = {"summary": summary_frame(a)}
    for name in TABLES:
        t = a.tables[name]
        out[name] = t if name == "staff" else t.reset_index()
    out["trend"] = a.trend
    out["cohort"] = a.cohort
    out["scheme"] = scheme_frame(a)
    return out


def summary_frame(a: Assessment) -> pd.DataFrame:
    rows: list[tuple[str, Any]] = [
        ("month", a.month.label),
        ("cutoff (UTC)", a.window.cutoff.isoformat()),
        ("complete month", a.window.complete),
        ("scheme", f"{a.scheme.name}: {a.scheme.title}"),
        ("working time", a.working_time),
    ]
    rows += list(a.totals.items())
    return pd.DataFrame(rows, columns=["item", "value"])


def scheme_frame(a: Assessment) -> pd.DataFrame:
    rows = []
    for level in TABLES:
        ls = a.scheme.level(level)
        for c in ls.criteria:
            rows.append(
                {
                    "level": level,
                    "metric": c.metric,
                    "label": c.label or "",
                    "weight": c.weight,
                    "full_at": c.full_at,
                    "zero_at": c.zero_at,
                }
            )
    return pd.DataFrame(rows)


def write_csv(a: Assessment, out: Path) -> list[Path]:
    paths = []
    for name, df in frames(a).items():
        path = out / f"{a.month.label}-{name}.csv"
        df.to_csv(path, index=False, encoding="utf-8-sig")  # BOM: Excel reads the Chinese
        paths.append(path)
    return paths


def _cell(ws: Any, value: Any, rate: bool) -> Any:
    if (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        value = None
    elif hasattr(value, "item"):  # numpy scalar → Python
        value = value.item()
    cell = WriteOnlyCell(ws, value=value)
    if rate and value is not None:
        cell.number_format = RATE_FORMAT
    return cell


def write_xlsx(a: Assessment, path: Path) -> Path:
    """One sheet per frame; write-only mode keeps 10k staff rows fast and small."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, df in frames(a).items():
        ws = wb.create_sheet(name)
        header = []
        for col in df.columns:
            c = WriteOnlyCell(ws, value=str(col))
            c.font = bold
            header.append(c)
        ws.append(header)
        rates = [str(c).endswith(RATES_SUFFIX) for c in df.columns]
        for row in df.itertuples(index=False, name=None):
            ws.append([_cell(ws, v, r) for v, r in zip(row, rates, strict=True)])
    wb.save(path)
    return path
