"""Assess and audit an export without the ledger's database.

The export's tables are loaded into a throwaway in-memory SQLite ledger (the ledger's own
schema), and the assessment's and the audit's own readers run on it for the exported month,
with the export's cutoff. So their extracts, KPI tables and expectation suites come out with
exactly the columns and dtypes they have on the live ledger, whatever those readers become.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from gridgov.assessments.audit.extract import AuditExtract, read_audit
from gridgov.assessments.extract import LedgerExtract, read_ledger
from gridgov.assessments.period import Window
from gridgov.exchange.export import export_window, read_manifest
from gridgov.exchange.prepare import NONE
from gridgov.exchange.tables import TABLES, kinds, read_table
from gridgov.ledger.base import Base
from gridgov.ledger.rows import Encoder

NAMES = ("items", "departments", "territory", "cases", "events")


def read_export(directory: Path) -> tuple[Window, dict[str, pd.DataFrame]]:
    manifest = read_manifest(directory)
    fmt = manifest["format"]
    return export_window(manifest), {n: read_table(Path(directory), n, fmt) for n in NAMES}


def _stored(df: pd.DataFrame, table: str, render: Encoder) -> list[tuple[Any, ...]]:
    """Rows of ``df`` in the form SQLite stores them (as the ledger writes them)."""
    cols: list[list[Any]] = []
    for col, kind in kinds(TABLES[table]).items():
        s = df[col]
        if kind == "time":
            us = s.dt.as_unit("us").array.asi8.copy()
            us[s.isna().to_numpy()] = NONE
            cols.append(render.times(us))
        elif kind in ("bool", "bool?"):
            cols.append([None if v is pd.NA or v is None else int(v) for v in s.astype(object)])
        elif kind == "date":
            cols.append([None if v is None else v.isoformat() for v in s])
        else:
            values = s.astype(object).where(s.notna(), None).tolist()
            cols.append([v.item() if isinstance(v, np.generic) else v for v in values])
    return list(zip(*cols, strict=True))


def offline_ledger(directory: Path) -> tuple[Engine, Window]:
    """An in-memory ledger holding the export, and the exported month's window."""
    window, tables = read_export(directory)
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    render = Encoder("sqlite")
    with engine.begin() as conn:
        for name in NAMES:
            t = TABLES[name]
            rows = _stored(tables[name], name, render)
            if rows:
                conn.exec_driver_sql(render.insert_sql(t.name, list(kinds(t))), rows)
    return engine, window


def ledger_extract(directory: Path) -> LedgerExtract:
    engine, window = offline_ledger(directory)
    try:
        return read_ledger(engine, window)
    finally:
        engine.dispose()


def audit_extract(directory: Path) -> AuditExtract:
    engine, window = offline_ledger(directory)
    try:
        return read_audit(engine, window)
    finally:
        engine.dispose()


def load_export(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cases, events) of an export with the columns and dtypes of the assessment's ledger
    extract (``gridgov.assessments.extract.read_ledger``) for the exported month."""
    ex = ledger_extract(directory)
    return ex.cases, ex.events
