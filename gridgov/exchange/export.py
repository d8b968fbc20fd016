"""A month of the ledger out, in open formats, with a data dictionary (docs/exchange.md).

Which cases: every case the month's assessment could count (opened before the month's end
and not closed or cancelled before it began, the assessment's own scope) plus every case with
an event in the month. Which events: the whole trail of each of those cases, as of the
export, so trails are complete (seq 1…n) and a case's status matches its last event. The
catalogue versions, departments and territory go along, so the assessment and the audit can
run on the export without the database (``offline``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
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
from gridgov.ledger import timers
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
    window: Window | None  # None: a whole-ledger (or date-range) export


def _scope(window: Window) -> Any:
    alive = select(Case.id).where(alive_filter(window))
    active = select(CaseEvent.case_id).where(
        CaseEvent.at >= window.start, CaseEvent.at < window.cutoff
    )
    return union(alive, active).subquery()


def _read(conn: Connection, table: Table, where: Any = None, order: Any = ()) -> pd.DataFrame:
    # A case's ladder position as its timer holds it: the sweep moves a reminded case's
    # timer, not its row (ledger/timers.py).
    stmt = select(*(timers.case_columns() if table.name == "cases" else table.columns))
    if where is not None:
        stmt = stmt.where(where)
    rows = conn.execute(stmt.order_by(*order)).all()
    df = pd.DataFrame.from_records(
        rows, columns=[c.name for c in table.columns], coerce_float=False
    )
    return df


def read_period(engine: Engine, window: Window) -> dict[str, pd.DataFrame]:
    """The export's tables, in one consistent read."""
    return _read_cases(engine, _scope(window))


def _read_cases(engine: Engine, ids: Any) -> dict[str, pd.DataFrame]:
    """Cases whose id is in the subquery ``ids``, their whole trails and the reference tables."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
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
        # An auditor proves the files are the ones exported (``read_manifest`` checks them).
        "sha256": {p.name: sha256_of(p) for p in files},
    }
    path = _write_manifest(out, manifest, files)
    return ExportResult(out, [*files, path], rows, window)


def export_ledger(
    engine: Engine,
    tz: ZoneInfo,
    fmt: str,
    out: Path,
    *,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """The whole ledger once — or the cases opened on local days ``since`` … ``until - 1`` —
    with every event of those cases, the reference tables and checksums in the manifest.

    Unlike monthly exports these never overlap: each case is in exactly one range export.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format {fmt!r}: use one of {', '.join(FORMATS)}", field="format")
    if since is not None and until is not None and until <= since:
        raise InvalidInput(f"until {until} is not after since {since}", field="until")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = datetime.combine(since, time(), tz) if since else None
    end = datetime.combine(until, time(), tz) if until else None
    ids = select(Case.id)
    if start is not None:
        ids = ids.where(Case.opened_at >= start)
    if end is not None:
        ids = ids.where(Case.opened_at < end)
    frames = _read_cases(engine, ids.subquery())
    out = Path(out)
    files = write_tables(frames, fmt, out)
    files += write_dictionary(out)
    rows = {name: len(df) for name, df in frames.items()}
    scope = (
        "whole ledger"
        if start is None and end is None
        else (
            f"cases opened from {since or 'the first case'} to before {until or 'the export'} "
            f"(local days, {tz.key})"
        )
    )
    manifest = {
        "gridgov": _version(),
        "scope": scope + "; events: their whole trails as of the export",
        "timezone": tz.key,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "exported_at": now.isoformat(),
        "format": fmt,
        "rows": rows,
        "times": "UTC",
    }
    path = _write_manifest(out, manifest, files)
    return ExportResult(out, [*files, path], rows, None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(out: Path, manifest: dict[str, Any], files: list[Path]) -> Path:
    """The manifest, with each file's size and SHA-256 (``verify_export`` checks them)."""
    manifest["files"] = {
        str(f.relative_to(out)): {"bytes": f.stat().st_size, "sha256": _sha256(f)}
        for f in sorted(files)
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def verify_export(directory: Path) -> list[str]:
    """Problems found re-checking an export against its manifest; empty when intact."""
    directory = Path(directory)
    listed: dict[str, dict[str, Any]] = read_manifest(directory).get("files", {})
    if not listed:
        return ["manifest lists no files (an export from before checksums)"]
    problems = []
    for name, meta in sorted(listed.items()):
        f = directory / name
        if not f.is_file():
            problems.append(f"{name}: missing")
        elif _sha256(f) != meta["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the manifest")
    return problems


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
    for name, digest in data.get("sha256", {}).items():
        file = Path(directory) / name
        if not file.exists() or sha256_of(file) != digest:
            raise InvalidInput(
                f"{file}: its SHA-256 differs from the manifest's (changed since export)",
                field="directory",
            )
    return data


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
