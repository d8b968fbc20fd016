"""What the auditors look at: the month's cases with every stored deadline, their whole
trails, the catalogue rows and reference codes, and raw counts straight from SQL."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, case, exists, func, select
from sqlalchemy.orm import aliased

from gridgov.assessments.extract import (
    Kind,
    Size,
    Source,
    Spec,
    Via,
    alive_filter,
    frame,
    read_either,
    read_reference,
    scalar,
    snapshot,
)
from gridgov.assessments.period import Window
from gridgov.assessments.trail import ROUTE
from gridgov.ledger.models import Case, CaseEvent

CASE_COLUMNS: list[tuple[str, Kind]] = [
    ("id", "int"),
    ("case_no", "obj"),
    ("item_code", "obj"),
    ("item_version", "int"),
    ("tier", "int"),
    ("status", "obj"),
    ("source", "obj"),
    ("community_code", "obj"),
    ("grid_code", "obj"),
    ("street_code", "obj"),
    ("assignee", "obj"),
    ("lead_department", "obj"),
    ("spot_check", "bool"),
    ("rating", "obj"),
    ("deadline_source", "obj"),
    *(
        (t, "time")
        for t in (
            "opened_at",
            "handled_at",
            "closed_at",
            "acknowledge_due",
            "arrive_due",
            "handle_due",
            "review_due",
        )
    ),
]
RAW_COUNTS = ("reported", "closed", "handled", "rated", "returns")


@dataclass
class AuditExtract:
    window: Window
    cases: pd.DataFrame  # the month's cases (as the assessment scopes them), µs timestamps
    events: pd.DataFrame  # every event of those cases, by (case_id, seq)
    items: pd.DataFrame
    departments: pd.DataFrame
    territory: pd.DataFrame
    raw_counts: dict[str, int]  # month counts by plain SQL, for the KPI reconciliation


def read_cases(conn: Source, window: Window) -> pd.DataFrame:
    stmt = select(*(getattr(Case, c) for c, _ in CASE_COLUMNS)).where(alive_filter(window))
    return frame(conn, stmt, CASE_COLUMNS)


def read_events(conn: Source, window: Window) -> pd.DataFrame:
    pl = CaseEvent.payload
    stmt = (
        select(
            CaseEvent.case_id,
            CaseEvent.seq,
            CaseEvent.kind,
            CaseEvent.at,
            CaseEvent.recorded_at,
            CaseEvent.role,
            CaseEvent.actor,
            CaseEvent.department,
            CaseEvent.community,
            CaseEvent.from_status,
            CaseEvent.to_status,
            # The department a dispatch/re-route sent the case to (the trail's holder).
            case((CaseEvent.kind.in_(ROUTE), pl["department"].as_string()), else_=None),
            case((CaseEvent.kind == "rated", pl["rating"].as_string()), else_=None),
            case((CaseEvent.kind == "extension_granted", pl["amount"].as_string()), else_=None),
            case((CaseEvent.kind == "extension_granted", pl["unit"].as_string()), else_=None),
            case((CaseEvent.kind == "closed", pl["imported"].as_string()), else_=None),
        )
        .where(CaseEvent.case_id.in_(select(Case.id).where(alive_filter(window))))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    )
    spec: Spec = [
        ("case_id", "int"),
        ("seq", "int"),
        ("kind", "obj"),
        ("at", "time"),
        ("recorded_at", "time"),
        ("role", "obj"),
        ("actor", "obj"),
        ("department", "obj"),
        ("community", "obj"),
        ("from_status", "obj"),
        ("to_status", "obj"),
        ("target", "obj"),
        ("rating", "obj"),
        ("ext_amount", "obj"),
        ("ext_unit", "obj"),
        ("imported", "obj"),
    ]
    df = frame(conn, stmt, spec)
    df["ext_amount"] = pd.to_numeric(df["ext_amount"], errors="coerce").astype(float)
    # JSON true reads back as 'true' (PostgreSQL) or 1 (SQLite).
    df["imported"] = df["imported"].astype(str).str.lower().isin(("true", "1"))
    return df


def raw_counts(conn: Source, window: Window) -> dict[str, int]:
    """The month's counts by plain SQL over ``case_events`` (independent of the KPI code)."""

    def count(kind: str, *extra: object) -> int:
        stmt = select(func.count()).where(
            CaseEvent.kind == kind,
            CaseEvent.at >= window.start,
            CaseEvent.at < window.cutoff,
            *extra,  # type: ignore[arg-type]
        )
        return int(scalar(conn, stmt))

    # Reported = created events in the month whose case was not cancelled by the cutoff.
    later = aliased(CaseEvent)
    cancelled = (
        select(later.id)
        .where(
            later.case_id == CaseEvent.case_id,
            later.kind == "cancelled",
            later.at < window.cutoff,
        )
        .correlate(CaseEvent)
    )
    return {
        "reported": count("created", ~exists(cancelled)),
        "closed": count("closed"),
        "handled": count("handled"),
        "rated": count("rated"),
        "returns": count("returned"),
    }


def read_audit(engine: Engine, window: Window, *, via: Via = "auto") -> AuditExtract:
    """One snapshot, read as the assessment reads (``extract.read_ledger``): through Arrow
    for a big month, the Python driver otherwise or should Arrow refuse a result."""
    return read_either(engine, window, via, _read_audit, "the audit extract")


def _read_audit(engine: Engine, window: Window, via: Via, _size: Size | None) -> AuditExtract:
    with snapshot(engine, via) as conn:
        cases = read_cases(conn, window)
        events = read_events(conn, window)
        items, depts, territory = read_reference(conn)
        counts = raw_counts(conn, window)
    return AuditExtract(window, cases, events, items, depts, territory, counts)
