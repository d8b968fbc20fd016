"""A month of the ledger out, in open formats, with a data dictionary (docs/exchange.md).

Which cases: every case the month's assessment could count (opened before the month's end
and not closed or cancelled before it began, the assessment's own scope) plus every case with
an event in the month. Which events: the whole trail of each of those cases, as of the
export, so trails are complete (seq 1…n) and a case's status matches its last event. The
catalogue versions, departments and territory go along, so the assessment and the audit can
run on the export without the database (``offline``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, Engine, Table, select, union

from gridgov.assessments.extract import alive_filter
from gridgov.assessments.period import Month, Window
from gridgov.domain.errors import InvalidInput
from gridgov.exchange.dictionary import write_dictionary
from gridgov.exchange.tables import FORMATS, TABLES, Format, normalise, write_tables
from gridgov.ledger.models import Case, CaseEvent

MANIFEST = "manifest.json"
SCOPE = (
    "cases the month's assessment could count (opened before its end, not closed or "
    "cancelled before its start) and cases with an event in the month; events: their "
    "whole trails as of the export"
)


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    files: list[Path]
    rows: dict[str, int]
    window: Window


def _scope(window: Window) -> Any:
    alive = select(Case.id).where(alive_filter(window))
    active = select(CaseEvent.case_id).where(
        CaseEvent.at >= window.start, CaseEvent.at < window.cutoff
    )
    return union(alive, active).subquery()


def _read(conn: Connection, table: Table, where: Any = None, order: Any = ()) -> pd.DataFrame:
    stmt = select(*table.columns)
    if where is not None:
        stmt = stmt.where(where)
    rows = conn.execute(stmt.order_by(*order)).all()
    df = pd.DataFrame.from_records(
        rows, columns=[c.name for c in table.columns], coerce_float=False
    )
    return df


def read_period(engine: Engine, window: Window) -> dict[str, pd.DataFrame]:
    """The export's tables, in one consistent read."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            ids = _scope(window)
            frames = {
                "cases": _read(conn, TABLES["cases"], Case.id.in_(select(ids.c.id)), [Case.id]),
                "events": _read(
                    conn,
                    TABLES["events"],
                    CaseEvent.case_id.in_(select(ids.c.id)),
                    [CaseEvent.case_id, CaseEvent.seq],
                ),
            }
            for name in ("items", "departments", "territory"):
                t = TABLES[name]
                frames[name] = _read(conn, t, None, list(t.primary_key.columns))
    return {name: normalise(df, name) for name, df in frames.items()}


def export_period(
    engine: Engine,
    tz: ZoneInfo,
    month: Month,
    fmt: str,
    out: Path,
    *,
    now: datetime | None = None,
) -> ExportResult:
    if fmt not in FORMATS:
        raise InvalidInput(f"format {fmt!r}: use one of {', '.join(FORMATS)}", field="format")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    window = Window.of(month, tz, now)
    frames = read_period(engine, window)
    out = Path(out)
    files = write_tables(frames, fmt, out)
    files += write_dictionary(out)
    rows = {name: len(df) for name, df in frames.items()}
    manifest = {
        "gridgov": _version(),
        "month": month.label,
        "timezone": tz.key,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "cutoff": window.cutoff.isoformat(),
        "exported_at": now.isoformat(),
        "format": fmt,
        "rows": rows,
        "scope": SCOPE,
        "times": "UTC",
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return ExportResult(out, [*files, path], rows, window)


def _version() -> str:
    try:
        return version("prefect-gridgov")
    except PackageNotFoundError:
        return ""


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not an export ({exc})", field="directory") from exc
    if data.get("format") not in FORMATS:
        raise InvalidInput(f"{path}: unknown format {data.get('format')!r}", field="format")
    return data


def export_window(manifest: dict[str, Any]) -> Window:
    tz = ZoneInfo(manifest["timezone"])
    return Window(
        Month.parse(manifest["month"]),
        tz,
        datetime.fromisoformat(manifest["start"]),
        datetime.fromisoformat(manifest["end"]),
        datetime.fromisoformat(manifest["cutoff"]),
    )


def format_of(directory: Path) -> Format:
    fmt: Format = read_manifest(directory)["format"]
    return fmt
