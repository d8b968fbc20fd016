"""Published reports against the ledger: recompute the period's assessment (a month, quarter
or year) with the scheme and cutoff the report names, write it the way reports are written,
and compare cell by cell with the CSV/XLSX files found (a hand-edited summary or ranking is
named by file, row and column). See docs/assessment.md ("Audits")."""

from __future__ import annotations

import math
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from gridgov.assessments.engine import assess
from gridgov.assessments.period import Period
from gridgov.assessments.reports.tables import frames, write_xlsx
from gridgov.assessments.scheme import load_scheme
from gridgov.domain.calendar import WorkingCalendar

MAX_MISMATCHES = 50


def compare_published(
    engine: Engine, cal: WorkingCalendar, month: Period, directory: Path
) -> tuple[list[str], int]:
    """Return (what differs, in words; number of report files compared)."""
    label = month.label
    csvs = sorted(directory.glob(f"{label}-*.csv"))
    xlsx = sorted(directory.glob(f"assessment-{label}.xlsx"))
    if not csvs and not xlsx:
        return [f"no published report of {label} in {directory}"], 0
    scheme_name, cutoff = _published_scheme_and_cutoff(directory, label)
    try:
        scheme = load_scheme(scheme_name)
    except Exception as exc:  # an unknown scheme is a finding, not a crash
        return [f"the report names scheme {scheme_name!r}, which cannot be loaded: {exc}"], 0
    a = assess(engine, cal, month, scheme, now=cutoff)
    expected = frames(a)
    out: list[str] = []
    for path in csvs:
        name = path.stem[len(label) + 1 :]
        if name not in expected:
            out.append(f"{path.name}: not a table of the assessment")
            continue
        published = pd.read_csv(path, encoding="utf-8-sig")
        with tempfile.TemporaryDirectory() as tmp:
            again = Path(tmp) / path.name
            expected[name].to_csv(again, index=False, encoding="utf-8-sig")
            recomputed = pd.read_csv(again, encoding="utf-8-sig")
        out += _differences(path.name, name, published, recomputed)
    for path in xlsx:
        with tempfile.TemporaryDirectory() as tmp:
            again = write_xlsx(a, Path(tmp) / path.name)
            recomputed_sheets = pd.read_excel(again, sheet_name=None)
        published_sheets = pd.read_excel(path, sheet_name=None)
        for name, recomputed in recomputed_sheets.items():
            if name not in published_sheets:
                out.append(f"{path.name}: sheet {name} is missing")
                continue
            out += _differences(f"{path.name}[{name}]", name, published_sheets[name], recomputed)
    return out[:MAX_MISMATCHES], len(csvs) + len(xlsx)


def _published_scheme_and_cutoff(directory: Path, label: str) -> tuple[str, datetime | None]:
    path = directory / f"{label}-summary.csv"
    if not path.exists():
        return "default", None
    s = pd.read_csv(path, encoding="utf-8-sig").set_index("item")["value"]
    scheme = str(s.get("scheme", "default")).split(":", 1)[0].strip()
    cutoff = s.get("cutoff (UTC)")
    return scheme, datetime.fromisoformat(str(cutoff)) if isinstance(cutoff, str) else None


def _same(a: object, b: object) -> bool:
    fa, fb = _number(a), _number(b)
    if fa is not None and fb is not None:
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-9)
    return _text(a) == _text(b)


def _number(v: object) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    return None


def _text(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _differences(
    where: str, table: str, published: pd.DataFrame, recomputed: pd.DataFrame
) -> list[str]:
    if list(published.columns) != list(recomputed.columns):
        return [f"{where}: columns differ from the {table} table recomputed from the ledger"]
    out: list[str] = []
    if len(published) != len(recomputed):
        out.append(f"{where}: {len(published)} rows published, the ledger gives {len(recomputed)}")
    key = published.columns[0]
    for i in range(min(len(published), len(recomputed))):
        p, r = published.iloc[i], recomputed.iloc[i]
        for col in published.columns:
            if not _same(p[col], r[col]):
                out.append(
                    f"{where}: {key} {_text(r[key])}, {col}: published {_text(p[col])}, "
                    f"the ledger gives {_text(r[col])}"
                )
    return out
