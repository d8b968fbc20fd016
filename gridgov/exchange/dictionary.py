"""The data dictionary shipped with every export: each column's name, type, meaning and unit.

Types are the exported kinds (see ``tables``); every moment is UTC (convert to Asia/Shanghai,
or the ledger's zone, for local days). A test checks that every ledger column is described.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gridgov.exchange.tables import TABLES, kinds

UTC = "UTC, µs precision"
TYPES = {
    "int": "integer",
    "int?": "integer, may be empty",
    "float": "decimal number, may be empty",
    "bool": "boolean (true/false)",
    "bool?": "boolean (true/false), may be empty",
    "str": "text",
    "json": "JSON text",
    "date": "date (YYYY-MM-DD)",
    "time": "timestamp",
}
# (meaning, unit/timezone); the unit is "" where none applies.
MEANINGS: dict[str, dict[str, tuple[str, str]]] = {
    "cases": {
        "id": ("ledger row id of the case (joins events.case_id)", ""),
        "case_no": ("case number C<local opening date>-<sequence>, unique", ""),
        "item_code": ("catalogue item (治理事项) code", ""),
        "item_version": ("catalogue version in force on the local opening date; kept for life", ""),
        "item_name": ("item name (Chinese) at that version", ""),
        "tier": ("1 field fix 现场纠正, 2 community 社区, 3 department 吹哨派单", ""),
        "category": ("catalogue category of the item", ""),
        "status": (
            "current state: reported, dispatched, acknowledged, returned, in_progress, "
            "handled, under_review, rework, evaluating, closed, cancelled",
            "",
        ),
        "source": ("who reported it: patrol, citizen, ai_camera, iot_sensor, hotline", ""),
        "reporter": ("reporter's name or handle", ""),
        "description": ("free-text description of the problem", ""),
        "media": ("JSON list of media references (photos, video)", ""),
        "street_code": ("street 街道 code (parent of the community)", ""),
        "community_code": ("community 社区 code", ""),
        "grid_code": ("grid 网格 code, if known", ""),
        "building": ("building or address text", ""),
        "lat": ("latitude", "degrees WGS84"),
        "lon": ("longitude", "degrees WGS84"),
        "lead_department": (
            "department responsible by the catalogue; COMMUNITY = the community's own team",
            "",
        ),
        "assisting": ("JSON list of assisting department codes", ""),
        "assignee": ("department holding the case now (COMMUNITY = community team)", ""),
        "opened_at": ("when the case was reported (上报)", UTC),
        "dispatched_at": ("last dispatch or re-route (分拨)", UTC),
        "acknowledged_at": ("acknowledgement of the current dispatch (签收)", UTC),
        "arrived_at": ("arrival on site (到场)", UTC),
        "handled_at": ("last handling (处置完成)", UTC),
        "closed_at": ("closure (结案)", UTC),
        "updated_at": ("moment of the case's last event", UTC),
        "acknowledge_due": ("acknowledgement deadline of the current dispatch", UTC),
        "arrive_due": ("arrival deadline (tier 3)", UTC),
        "handle_due": (
            "handling deadline (处置时限), extensions included; on-time closure "
            "means handled_at <= handle_due; empty = no deadline (never overdue)",
            UTC,
        ),
        "review_due": ("review deadline after the last handling", UTC),
        "clock_kind": ("time limit running now: acknowledge, arrive, handle, review", ""),
        "clock_start": ("when the running limit's window started", UTC),
        "clock_due": ("when the running limit falls due", UTC),
        "clock_unit": (
            "unit of the running limit: minutes, hours, days, working_hours, working_days",
            "",
        ),
        "ladder_done": ("supervision ladder steps already taken on the running limit", "steps"),
        "next_sweep_at": ("when supervision next looks at the case; empty = not supervised", UTC),
        "supervision_level": (
            "highest supervision step reached: reminded, supervised, escalated",
            "",
        ),
        "overdue": ("a time limit was passed", ""),
        "overdue_since": ("deadline that was passed", UTC),
        "rework_count": ("failed reviews and reopenings", "count"),
        "return_count": ("returns by departments (退单)", "count"),
        "extension_count": ("granted extensions", "count"),
        "extension_pending": ("an extension request awaits a decision", ""),
        "spot_check": ("field fix drawn for a spot review (empty: not a field fix decision)", ""),
        "rating": ("citizen callback rating: satisfied, basically_satisfied, unsatisfied", ""),
        "repeat_count": ("reports merged into this case (deduplicated machine events)", "count"),
        "dedupe_key": ("key machine-found events are deduplicated on", ""),
        "deadline_source": (
            "catalog: deadlines computed from the item; source: handle_due "
            "kept from an imported system (empty there: the source set none)",
            "",
        ),
        "provisional_years": (
            "years without holiday data that a deadline reaches (deadline provisional until "
            "`gridgov calendar recount`); empty: final",
            "",
        ),
        "attributes": (
            "JSON object: an imported source's columns with no field of ours, as they came "
            "(mapping keep_unmapped)",
            "",
        ),
        "source_channel": ("the source system's own channel value (source: ours)", ""),
        "flow_run_id": ("Prefect flow run that handles the case", ""),
        "source_system": ("system the case was imported or received from", ""),
        "source_id": ("the case's id in that system", ""),
        "row_version": ("optimistic-locking version of the row", ""),
    },
    "events": {
        "id": ("ledger row id of the event", ""),
        "case_id": ("cases.id of the case", ""),
        "seq": ("position in the case's trail, 1…n without gaps", ""),
        "kind": (
            "what happened: created, dispatched, acknowledged, returned, rerouted, "
            "arrived, assisted, extension_*, handled, review_*, rated, reopened, closed, "
            "cancelled, reminded, supervised, escalated, notified",
            "",
        ),
        "actor": ("who did it (import:<system> for imported history)", ""),
        "role": (
            "actor's role: patroller, citizen, dispatcher, community, department, "
            "reviewer, supervisor, auditor, machine (a camera/sensor platform's key), system",
            "",
        ),
        "department": ("actor's department, for department actors", ""),
        "community": ("actor's community, for community actors", ""),
        "at": ("when it happened", UTC),
        "recorded_at": ("when the ledger recorded it", UTC),
        "from_status": ("case status before the event (empty for created)", ""),
        "to_status": ("case status after the event", ""),
        "payload": (
            "JSON details: department, reason, evidence, rating, extension, and for "
            "imported history {imported: true, source_status, source_hash}",
            "",
        ),
        "idempotency_key": ("unique key of the command that wrote the event", ""),
    },
    "items": {
        "code": ("catalogue item code", ""),
        "version": ("item version", ""),
        "valid_from": ("first local day the version is in force", "local date"),
        "valid_to": (
            "first local day it is no longer in force (empty: still in force)",
            "local date",
        ),
        "name_zh": ("item name (Chinese)", ""),
        "tier": ("1 field fix, 2 community, 3 department", ""),
        "lead_department": ("responsible department (COMMUNITY for tiers 1 and 2)", ""),
        "content_hash": ("digest of the version's catalogue row", ""),
        "data": (
            "JSON of the full catalogue row: deadlines {acknowledge, arrive, handle, "
            "review: {amount, unit}}, conditions, sources…",
            "",
        ),
        "loaded_at": ("when the version was loaded into the ledger", UTC),
    },
    "departments": {
        "code": ("department code (COMMUNITY = a community's own team)", ""),
        "name_zh": ("name (Chinese)", ""),
        "name_en": ("name (English)", ""),
        "level": ("district or street department", ""),
    },
    "territory": {
        "code": ("territory unit code", ""),
        "kind": ("district, street, community or grid", ""),
        "name_zh": ("name (Chinese)", ""),
        "name_en": ("name (English)", ""),
        "parent_code": ("the unit it lies in", ""),
    },
}
UNDOCUMENTED = ("(not yet described)", "")


def dictionary() -> pd.DataFrame:
    rows = []
    for table, t in TABLES.items():
        for col, kind in kinds(t).items():
            meaning, unit = MEANINGS.get(table, {}).get(col, UNDOCUMENTED)
            rows.append((table, col, TYPES[kind], meaning, unit))
    return pd.DataFrame(rows, columns=["table", "column", "type", "meaning", "unit"])


def write_dictionary(out: Path) -> list[Path]:
    d = dictionary()
    csv_path, md_path = out / "data_dictionary.csv", out / "data_dictionary.md"
    d.to_csv(csv_path, index=False, encoding="utf-8")
    lines = [
        "# Data dictionary",
        "",
        "Every moment is UTC; local days are in the ledger's time zone (manifest.json).",
        "",
    ]
    for table, part in d.groupby("table", sort=False):
        lines += [
            f"## {table}",
            "",
            "| column | type | meaning | unit / timezone |",
            "|---|---|---|---|",
        ]
        lines += [f"| {r.column} | {r.type} | {r.meaning} | {r.unit} |" for r in part.itertuples()]
        lines.append("")
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return [csv_path, md_path]
