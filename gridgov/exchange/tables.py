"""Exported tables on disk and back: one column kind per ledger column, three formats.

In memory every table has the same dtypes whatever the format: int64 / Int64 (nullable),
float64, bool / boolean (nullable), Python str or None for text and JSON text, ``date`` objects,
and ``datetime64[us, UTC]`` for moments. On disk:

* csv     UTF-8, one file per table; moments ``2026-10-12T01:00:00.000000Z`` (UTC), booleans
          ``true``/``false``, dates ``2026-10-12``, missing values empty
* parquet one file per table (pyarrow); moments ``timestamp[us, tz=UTC]``
* xlsx    one workbook, a sheet per table, values written as in the CSV files: Excel keeps
          moments to the millisecond at best and has no time zones, and an audit compares
          moments exactly (the fixed-width text sorts in time order)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Date, Float, Integer, Table

from gridgov.domain.errors import InvalidInput
from gridgov.ledger.models import Case, CaseEvent, CatalogItem, Department, TerritoryUnit
from gridgov.ledger.types import UTCDateTime

Format = Literal["csv", "parquet", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "xlsx")
Kind = Literal["int", "int?", "float", "bool", "bool?", "str", "json", "date", "time"]
TABLES: dict[str, Table] = {
    "cases": Case.__table__,  # type: ignore[dict-item]
    "events": CaseEvent.__table__,  # type: ignore[dict-item]
    "items": CatalogItem.__table__,  # type: ignore[dict-item]
    "departments": Department.__table__,  # type: ignore[dict-item]
    "territory": TerritoryUnit.__table__,  # type: ignore[dict-item]
}
WORKBOOK = "ledger.xlsx"
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header
TIME_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"


def kinds(table: Table) -> dict[str, Kind]:
    out: dict[str, Kind] = {}
    for c in table.columns:
        t = c.type
        if isinstance(t, UTCDateTime):
            out[c.name] = "time"
        elif isinstance(t, Boolean):
            out[c.name] = "bool?" if c.nullable else "bool"
        elif isinstance(t, Integer):
            out[c.name] = "int?" if c.nullable else "int"
        elif isinstance(t, Float):
            out[c.name] = "float"
        elif isinstance(t, JSON):
            out[c.name] = "json"
        elif isinstance(t, Date):
            out[c.name] = "date"
        else:
            out[c.name] = "str"
    return out


def _missing(v: Any) -> bool:
    return v is None or (not isinstance(v, str | dict | list) and bool(pd.isna(v)))


def _text(values: pd.Series, as_json: bool = False) -> pd.Series:
    """Python str or None (the form SQL gives); JSON values (from SQL) as JSON text."""
    return pd.Series(
        [
            None
            if _missing(v) or v == ""
            else v
            if isinstance(v, str)
            else json.dumps(v, ensure_ascii=False)
            if as_json
            else str(v)
            for v in values
        ],
        index=values.index,
        dtype=object,
    )


def _times(s: pd.Series) -> pd.Series:
    if s.dtype == object:
        vals = s.where(s.map(lambda v: not _missing(v) and v != ""), None)
        if any(isinstance(v, str) for v in vals):
            s = pd.to_datetime(vals, utc=True, format="ISO8601")
        else:
            s = pd.to_datetime(vals, utc=True)
    return pd.to_datetime(s, utc=True).dt.as_unit("us")


def normalise(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Bring a table read from any format (or from SQL) to the in-memory dtypes above."""
    out = {}
    for col, kind in kinds(TABLES[table]).items():
        s = df[col] if col in df else pd.Series([None] * len(df), index=df.index, dtype=object)
        if kind in ("str", "json"):
            s = _text(s, as_json=kind == "json")
            if kind == "str" and not TABLES[table].columns[col].nullable:
                s = s.fillna("")
        elif kind == "time":
            s = _times(s)
        elif kind == "date":
            s = pd.Series(
                [
                    None
                    if _missing(v) or v == ""
                    else (v if type(v) is date else pd.Timestamp(v).date())
                    for v in s
                ],
                index=df.index,
                dtype=object,
            )
        elif kind in ("int", "int?"):
            s = pd.to_numeric(s.where(s != "", None) if s.dtype == object else s)
            s = s.astype("Int64") if kind == "int?" else s.astype(np.int64)
        elif kind == "float":
            s = pd.to_numeric(s.where(s != "", None) if s.dtype == object else s).astype(float)
        else:
            s = s.map(_bool, na_action="ignore") if s.dtype == object else s
            s = s.astype("boolean") if kind == "bool?" else s.astype(bool)
        out[col] = s
    return pd.DataFrame(out, index=df.index)


def _bool(v: Any) -> Any:
    if isinstance(v, str):
        return {"true": True, "false": False, "": None}[v.strip().lower()]
    return v


def _for_text(df: pd.DataFrame, table: str) -> pd.DataFrame:
    out = df.copy()
    for col, kind in kinds(TABLES[table]).items():
        if kind == "time":
            out[col] = out[col].dt.strftime(TIME_TEXT).astype(object)
        elif kind in ("bool", "bool?"):
            out[col] = out[col].map({True: "true", False: "false"}).astype(object)
        elif kind == "date":
            out[col] = out[col].map(lambda d: d.isoformat() if d else None)
    return out


def write_tables(frames: Mapping[str, pd.DataFrame], fmt: Format, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        too_big = [t for t, df in frames.items() if len(df) > XLSX_MAX_ROWS]
        if too_big:
            raise InvalidInput(
                f"{too_big[0]} has more rows than an Excel sheet holds: use csv or parquet",
                field="format",
            )
        path = out / WORKBOOK
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for table, df in frames.items():
                _for_text(df, table).to_excel(xw, sheet_name=table, index=False)
        return [path]
    paths = []
    for table, df in frames.items():
        if fmt == "csv":
            path = out / f"{table}.csv"
            _for_text(df, table).to_csv(path, index=False, encoding="utf-8")
        else:
            path = out / f"{table}.parquet"
            df.to_parquet(path, engine="pyarrow", index=False)
        paths.append(path)
    return paths


def read_table(directory: Path, table: str, fmt: Format) -> pd.DataFrame:
    if fmt == "csv":
        raw = pd.read_csv(
            directory / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8"
        )
        raw = raw.astype(object)
    elif fmt == "parquet":
        raw = pd.read_parquet(directory / f"{table}.parquet", engine="pyarrow")
    else:
        raw = pd.read_excel(directory / WORKBOOK, sheet_name=table, dtype=object, engine="openpyxl")
        raw = raw.astype(object).where(raw.notna(), None)
    return normalise(raw, table)
