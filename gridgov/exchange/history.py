"""Imported rows as ledger history: the case row and its event trail (docs/exchange.md).

The trail is written directly as history (role ``system``, actor ``import:<source_system>``),
not through the live transition table, and keeps the ledger's invariants: seq 1…n per case,
events in time order, idempotency keys ``import:<system>:<source id>:<kind>``. A row's trail
is the steps its status reaches, in this order:

    created (opened) → dispatched (opened; when a department had it, or status dispatched)
    → handled (handled time, else closed time) → closed (closed time) | cancelled (closed time)

Imported history has no dispatch, acknowledgement or arrival times: the dispatch is recorded
at the opening moment and nothing is invented after it. An update appends the steps after the
case's present position; it never rewrites a stored event.

New cases' trails are built here as rows (``EventWriter``, PostgreSQL and updates) or, on
SQLite, as one ``INSERT … SELECT`` over the staged case rows (``trail_sql``): the same
events, value for value (tests compare the ledgers both give).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.domain import keys
from gridgov.domain.deadlines import Clock, Ladder, rule_for
from gridgov.domain.enums import CaseStatus, DeadlineKind, Role
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.tiers import path, tiers_where
from gridgov.domain.worktime import from_us, to_us
from gridgov.exchange.prepare import NONE, Lookups
from gridgov.exchange.rejects import Reason
from gridgov.exchange.store import STAGE
from gridgov.ledger.rows import EVENT_COLUMNS, Encoder, json_text

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
# (kind, rank, status it leads to); closed and cancelled are alternative last steps.
STEPS = (
    ("created", 0, "reported"),
    ("dispatched", 1, "dispatched"),
    ("handled", 2, "handled"),
    ("closed", 3, "closed"),
    ("cancelled", 3, "cancelled"),
)
# How far along that trail a stored case is, whatever live events moved it since.
RANK = {
    "reported": 0,
    "dispatched": 1,
    "acknowledged": 1,
    "returned": 1,
    "in_progress": 1,
    "rework": 1,
    "handled": 2,
    "under_review": 2,
    "evaluating": 2,
    "closed": 3,
    "cancelled": 3,
}


def dispatched(rows: pd.DataFrame) -> Mask:
    status = rows["status"].to_numpy(dtype=object)
    out: Mask = (status != "reported") & (
        (rows["assignee"].to_numpy(dtype=object) != COMMUNITY_UNIT) | (status == "dispatched")
    )
    return out


def case_assignee(rows: pd.DataFrame) -> npt.NDArray[Any]:
    """A case not yet dispatched sits with its community, as a freshly reported case does."""
    status = rows["status"].to_numpy(dtype=object)
    return np.where(status == "reported", COMMUNITY_UNIT, rows["assignee"].to_numpy(dtype=object))


def step_times(rows: pd.DataFrame, after: I64) -> dict[str, I64]:
    """When each step happened (``NONE``: not in this row's trail). An update's dispatch
    comes no earlier than the case's last stored event (``after``)."""
    created = rows["created"].to_numpy(dtype=np.int64)
    floor = np.where(after == NONE, created, np.maximum(created, after))
    return {
        "created": created,
        "dispatched": np.where(dispatched(rows), floor, NONE),
        "handled": rows["handled"].to_numpy(dtype=np.int64),
        "closed": rows["closed"].to_numpy(dtype=np.int64),
        "cancelled": rows["cancelled"].to_numpy(dtype=np.int64),
    }


class EventWriter:
    """Builds ``case_events`` rows for imported steps (values in stored form)."""

    def __init__(self, lk: Lookups, render: Encoder, now_us: int) -> None:
        m = lk.mapping
        self.system, self.actor = m.source_system, m.actor
        self.render = render
        self.recorded = render.times(np.array([now_us], dtype=np.int64))[0]
        self.reason = f"cancelled in {m.source_system}"
        self.reason_json = json_text(self.reason)  # trail_sql's ?4
        self._status_json: dict[str, str] = {}

    def key(self, source_id: str, kind: str) -> str:
        return keys.imported(self.system, source_id, kind)

    def digest_prefix(self, source_id: str) -> str:
        return keys.imported_digest_head(self.system, source_id)

    def status_json(self, raw: str) -> str:
        if raw not in self._status_json:
            self._status_json[raw] = json_text(raw)
        return self._status_json[raw]

    def payloads(self, kind: str, rows: pd.DataFrame, idx: npt.NDArray[np.intp]) -> list[str]:
        """Each step's payload, by the one serializer (trail_sql writes the same text)."""
        h = rows["hash"].to_numpy(dtype=object)[idx].tolist()
        if kind == "created":
            v = rows["item_version"].to_numpy()[idx].tolist()
            ch = rows["channel"].to_numpy(dtype=object)[idx].tolist()
            return [
                json_text({"imported": True, "item_version": a, "source": b, "source_hash": c})
                for a, b, c in zip(v, ch, h, strict=True)
            ]
        if kind == "dispatched":
            d = rows["assignee"].to_numpy(dtype=object)[idx].tolist()
            return [
                json_text({"department": a, "imported": True, "source_hash": b})
                for a, b in zip(d, h, strict=True)
            ]
        if kind == "handled":
            return [json_text({"imported": True, "source_hash": b}) for b in h]
        raw = rows["source_status"].to_numpy(dtype=object)[idx].tolist()
        reason = {"reason": self.reason} if kind == "cancelled" else {}
        return [
            json_text({"imported": True, **reason, "source_status": s, "source_hash": b})
            for s, b in zip(raw, h, strict=True)
        ]

    def rows(
        self,
        rows: pd.DataFrame,
        case_id: I64,
        *,
        min_rank: I64 | None = None,
        first_seq: I64 | None = None,
        first_from: npt.NDArray[Any] | None = None,
        after: I64 | None = None,
    ) -> list[tuple[Any, ...]]:
        """Events for each row's steps ranked above ``min_rank`` (new cases: all of them)."""
        n = len(rows)
        min_rank = np.full(n, -1, dtype=np.int64) if min_rank is None else min_rank
        seq = np.ones(n, dtype=np.int64) if first_seq is None else first_seq.copy()
        prev = np.full(n, None, dtype=object) if first_from is None else first_from.copy()
        times = step_times(rows, np.full(n, NONE, dtype=np.int64) if after is None else after)
        sids = rows["source_id"].to_numpy(dtype=object)
        cols: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
        for kind, rank, to in STEPS:
            t = times[kind]
            idx = np.flatnonzero((t != NONE) & (rank > min_rank))
            if not idx.size:
                continue
            k = len(idx)
            cols["case_id"] += case_id[idx].tolist()
            cols["seq"] += seq[idx].tolist()
            cols["kind"] += [kind] * k
            cols["at"] += self.render.times(t[idx])
            cols["from_status"] += prev[idx].tolist()
            cols["to_status"] += [to] * k
            cols["payload"] += self.payloads(kind, rows, idx)
            cols["idempotency_key"] += [self.key(s, kind) for s in sids[idx]]
            seq[idx] += 1
            prev[idx] = to
        total = len(cols["case_id"])
        cols["actor"] = [self.actor] * total
        cols["role"] = [Role.SYSTEM.value] * total
        cols["department"] = cols["community"] = [None] * total
        cols["recorded_at"] = [self.recorded] * total
        order = np.lexsort((np.asarray(cols["seq"]), np.asarray(cols["case_id"])))
        data = list(zip(*(cols[c] for c in EVENT_COLUMNS), strict=True))
        return [data[i] for i in order.tolist()]


# The trail of a new case in SQL, from its staged row (``s``: its ``cases`` columns as
# stored, and stage_rows); ``D``/``H``: dispatched/handled step present. Per step: (kind,
# seq, from_status, at, present, payload) — the same events EventWriter builds, computed by
# SQLite instead of bound value by value (three quarters of the rows an import writes are
# events). ?1 system, ?2 actor, ?3 recorded_at, ?4 cancel reason (JSON), ?5 the largest case
# id before the chunk's cases were copied in.
_D = "(s.dispatched_at IS NOT NULL)"
_H = "(s.handled_at IS NOT NULL)"
_AFTER_HANDLED = f"CASE WHEN {_H} THEN 'handled' WHEN {_D} THEN 'dispatched' ELSE 'reported' END"
_HASH = """'"source_hash": "' || s.hash || '"}'"""
_TRAIL = (
    (
        "created",
        "1",
        "NULL",
        "s.opened_at",
        "1",
        """'{"imported": true, "item_version": ' || s.item_version || ', "source": "' """
        f"""|| s.source || '", ' || {_HASH}""",
    ),
    (
        "dispatched",
        "2",
        "'reported'",
        "s.dispatched_at",
        _D,
        f"""'{{"department": "' || s.assignee || '", "imported": true, ' || {_HASH}""",
    ),
    (
        "handled",
        f"2 + {_D}",
        f"CASE WHEN {_D} THEN 'dispatched' ELSE 'reported' END",
        "s.handled_at",
        _H,
        f"""'{{"imported": true, ' || {_HASH}""",
    ),
    (
        "closed",
        f"2 + {_D} + {_H}",
        _AFTER_HANDLED,
        "s.closed_at",
        "(s.closed_at IS NOT NULL)",
        f"""'{{"imported": true, "source_status": ' || s.status_json || ', ' || {_HASH}""",
    ),
    (
        "cancelled",
        f"2 + {_D} + {_H}",
        _AFTER_HANDLED,
        "s.cancelled_at",
        "(s.cancelled_at IS NOT NULL)",
        """'{"imported": true, "reason": ' || ?4 || ', "source_status": ' || s.status_json """
        f"""|| ', ' || {_HASH}""",
    ),
)


def trail_sql() -> str:
    """``INSERT … SELECT`` of the trails of the new cases above id ?5, the n-th of them
    staged at rowid n (SQLite), in (case, seq) order as EventWriter.rows orders them: one
    pass over the new cases in id order, each joined with the steps in trail order."""

    def per_step(i: int) -> str:
        return (
            "CASE k.n " + " ".join(f"WHEN {n} THEN {t[i]}" for n, t in enumerate(_TRAIL)) + " END"
        )

    kinds = " UNION ALL ".join(
        f"SELECT {n} AS n, '{k}' AS kind, '{_TO[k]}' AS to_status, {len(k)} AS len"
        for n, (k, *_) in enumerate(_TRAIL)
    )
    key = (
        "CASE WHEN s.key_limit < k.len THEN s.key_digest "
        "ELSE 'import:' || ?1 || ':' || s.source_id END || ':' || k.kind"
    )
    return (
        f"INSERT INTO case_events ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT ?5 + s.rowid, {per_step(1)}, k.kind, ?2, '{Role.SYSTEM.value}', NULL, NULL, "
        f"{per_step(3)}, ?3, {per_step(2)}, k.to_status, {per_step(5)}, {key} "
        f"FROM {STAGE} s CROSS JOIN ({kinds}) k WHERE {per_step(4)} ORDER BY s.rowid, k.n"
    )


_TO = {kind: to for kind, _, to in STEPS}


def event_count(rows: pd.DataFrame) -> int:
    """How many events the trails of these new cases have."""
    times = step_times(rows, np.full(len(rows), NONE, dtype=np.int64))
    return int(sum(int((t != NONE).sum()) for t in times.values()))


def stage_rows(
    rows: pd.DataFrame, lk: Lookups, render: Encoder, now_us: int
) -> dict[str, list[Any]]:
    """Per new case, what its trail needs beyond its case row (trail_sql): the content hash,
    the source status as JSON (ended cases), the cancellation time, how long an event kind
    may be before its key takes the digest form (``key_limit``), and that form."""
    writer = EventWriter(lk, render, now_us)
    n = len(rows)
    sids = rows["source_id"].to_numpy(dtype=object)
    ended = (rows["closed"].to_numpy(dtype=np.int64) != NONE) | (
        rows["cancelled"].to_numpy(dtype=np.int64) != NONE
    )
    status_json = np.full(n, None, dtype=object)
    raw = rows["source_status"].to_numpy(dtype=object)
    status_json[ended] = [writer.status_json(r) for r in raw[ended]]
    base = len(f"import:{writer.system}:")
    limit = 199 - base - rows["source_id"].str.len().to_numpy(dtype=np.int64)
    digest = np.full(n, None, dtype=object)
    for i in np.flatnonzero(limit < max(len(kind) for kind, _, _ in STEPS)).tolist():
        digest[i] = writer.digest_prefix(str(sids[i]))
    return {
        "source_id": sids.tolist(),
        "hash": rows["hash"].tolist(),
        "status_json": status_json.tolist(),
        "cancelled_at": writer.render.times(rows["cancelled"].to_numpy(dtype=np.int64)),
        "key_limit": limit.tolist(),
        "key_digest": digest.tolist(),
    }


def spared(tier: npt.NDArray[Any], status: npt.NDArray[Any]) -> Mask:
    """Imported cases closed without review by their tier's path (a field fix's spot-check
    draw spared them): their spot_check is False."""
    out: Mask = np.isin(tier, tiers_where("spot_check")) & (status == "closed")
    return out


@dataclass(frozen=True)
class Clocks:
    kind: npt.NDArray[Any]
    due: I64
    unit: npt.NDArray[Any]
    next_sweep: I64
    overdue: Mask
    overdue_since: I64


def clocks(rows: pd.DataFrame, lk: Lookups, ladder: Ladder, now_us: int) -> Clocks:
    """The clock fields CaseBook would set. An open case is put on the supervision ladder
    only when its running limit is still ahead: one already past due was supervised, or not,
    in the old system, and waking thousands of them at once would only flood notices."""
    n = len(rows)
    status = rows["status"].to_numpy(dtype=object)
    tier = rows["tier"].to_numpy()
    kind = np.full(n, None, dtype=object)
    for st, t in {(a, int(b)) for a, b in zip(status.tolist(), tier.tolist(), strict=True)}:
        limit = path(t).running_limit(CaseStatus(st))  # the tier's path, per distinct pair
        if limit is not None:
            kind[(status == st) & (tier == t)] = limit.value
    due_by_kind = {
        DeadlineKind.ACKNOWLEDGE.value: rows["acknowledge_due"].to_numpy(dtype=np.int64),
        DeadlineKind.HANDLE.value: rows["handle_due"].to_numpy(dtype=np.int64),
        DeadlineKind.REVIEW.value: rows["review_due"].to_numpy(dtype=np.int64),
    }
    due = np.full(n, NONE, dtype=np.int64)
    for k, values in due_by_kind.items():
        due = np.where(kind == k, values, due)
    open_ = kind != None  # noqa: E711 (elementwise)
    unit = np.full(n, None, dtype=object)
    sweep = np.full(n, NONE, dtype=np.int64)
    created = rows["created"].to_numpy(dtype=np.int64)
    handled = rows["handled"].to_numpy(dtype=np.int64)
    items = rows[["item_code", "item_version"]].to_numpy(dtype=object)
    ahead = open_ & (due > now_us)
    for i in np.flatnonzero(open_).tolist():
        ck = DeadlineKind(kind[i])
        rules = lk.rules(lk.catalog.version(items[i][0], int(items[i][1])))
        unit[i] = rule_for(rules, ck).unit.value
        if ahead[i]:
            start = handled[i] if ck == DeadlineKind.REVIEW else created[i]
            clock = Clock(ck, from_us(start), from_us(due[i]), rule_for(rules, ck).unit)
            step = ladder.step_due_at(lk.calendar, clock, 0)
            sweep[i] = NONE if step is None else to_us(step)
    handle_due = rows["handle_due"].to_numpy(dtype=np.int64)
    late_closed = (status == "closed") & (handled > handle_due)
    overdue = (open_ & ~ahead) | late_closed
    since = np.where(open_ & ~ahead, due, np.where(late_closed, handle_due, NONE))
    return Clocks(kind, due, unit, sweep, overdue, since)


@dataclass(frozen=True)
class NewCases:
    """What rows are written as if they are new cases, in stored form, by row position:
    ``cases`` columns (all but ``id`` and ``case_no``, reserved in the transaction), the
    columns every imported case has the same value in (written as literals), and on SQLite
    the staged values their trails need (stage_rows)."""

    cases: dict[str, list[Any]]
    constants: dict[str, Any]
    trails: dict[str, list[Any]]

    def take(self, pos: npt.NDArray[np.intp]) -> NewCases:
        """The values of the rows at ``pos``."""
        n = len(next(iter(self.cases.values()), []))
        if len(pos) == n and bool((pos == np.arange(n)).all()):
            return self
        idx = pos.tolist()

        def pick(d: dict[str, list[Any]]) -> dict[str, list[Any]]:
            return {k: [v[i] for i in idx] for k, v in d.items()}

        return NewCases(pick(self.cases), self.constants, pick(self.trails))


def new_cases(
    rows: pd.DataFrame, lk: Lookups, ladder: Ladder, render: Encoder, now_us: int
) -> NewCases:
    if rows.empty:
        return NewCases({}, {}, {})
    cases, constants = case_values(rows, lk, ladder, render, now_us)
    trails = stage_rows(rows, lk, render, now_us) if render.sqlite else {}
    return NewCases(cases, constants, trails)


def case_values(
    rows: pd.DataFrame,
    lk: Lookups,
    ladder: Ladder,
    render: Encoder,
    now_us: int,
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """``cases`` columns (all but ``id`` and ``case_no`` when written) for new imported
    cases, in stored form: the values per row, and the columns every imported case has the
    same value in (written as literals); a column added later with a default is left to its
    default."""
    n = len(rows)
    t = render.times
    status = rows["status"].to_numpy(dtype=object)
    times = step_times(rows, np.full(n, NONE, dtype=np.int64))
    stacked = np.vstack(list(times.values()))
    last = np.max(np.where(stacked == NONE, -1, stacked), axis=0)
    ck = clocks(rows, lk, ladder, now_us)
    tier = rows["tier"].to_numpy()
    spot_checked = spared(tier, status)
    no = render.flag(False)  # field fixes closed without a spot review
    spot = [no if c else None for c in spot_checked.tolist()]

    def text(col: str) -> list[Any]:
        return [v if v else None for v in rows[col].to_numpy(dtype=object).tolist()]

    def number(col: str) -> list[Any]:
        values = rows[col].to_numpy(dtype=float)
        if np.isnan(values).all():
            return [None] * n
        return [None if v != v else v for v in values.tolist()]

    def times_of(col: str) -> list[str | None]:
        return t(rows[col].to_numpy(dtype=np.int64))

    opened = t(times["created"])
    handled = times_of("handled")
    closed = handled if rows["closed"].equals(rows["handled"]) else times_of("closed")
    v: dict[str, list[Any]] = {
        "item_code": rows["item_code"].tolist(),
        "item_version": rows["item_version"].tolist(),
        "item_name": rows["item_name"].tolist(),
        "tier": rows["tier"].tolist(),
        "category": rows["category"].tolist(),
        "status": status.tolist(),
        "source": rows["channel"].tolist(),
        "reporter": rows["reporter"].tolist(),
        "description": rows["description"].tolist(),
        "street_code": rows["street"].tolist(),
        "community_code": rows["community"].tolist(),
        "grid_code": [g if isinstance(g, str) else None for g in rows["grid"].tolist()],
        "building": text("building"),
        "lat": number("lat"),
        "lon": number("lon"),
        "lead_department": rows["lead"].tolist(),
        "assisting": rows["assisting"].tolist(),
        "assignee": case_assignee(rows).tolist(),
        "opened_at": opened,
        "dispatched_at": t(times["dispatched"]),
        "handled_at": handled,
        "closed_at": closed,
        "updated_at": t(last),
        "acknowledge_due": times_of("acknowledge_due"),
        "arrive_due": times_of("arrive_due"),
        "handle_due": times_of("handle_due"),
        "review_due": times_of("review_due"),
        "clock_kind": ck.kind.tolist(),
        "clock_start": opened,
        "clock_due": t(ck.due),
        "clock_unit": ck.unit.tolist(),
        "next_sweep_at": t(ck.next_sweep),
        "overdue": render.flags(ck.overdue),
        "overdue_since": t(ck.overdue_since),
        "spot_check": spot,
        "deadline_source": rows["deadline_source"].tolist(),
        "source_id": rows["source_id"].tolist(),
        "attributes": text("attributes"),  # JSON text from the reader, or None
        "source_channel": [c[:64] if c else None for c in rows["source_channel"].tolist()],
    }
    constants: dict[str, Any] = {
        "media": "[]",
        "acknowledged_at": None,
        "arrived_at": None,
        "ladder_done": 0,
        "supervision_level": None,
        "rework_count": 0,
        "return_count": 0,
        "extension_count": 0,
        "extension_pending": render.flag(False),
        "rating": None,
        "repeat_count": 1,
        "dedupe_key": None,
        # Histories are recounted by the assessment's calendar, not marked per case.
        "provisional_years": None,
        "flow_run_id": None,
        "source_system": lk.mapping.source_system,
        "row_version": 1,
    }
    return v, constants


@dataclass(frozen=True)
class Conflict:
    field: str
    detail: str
    reason: Reason = Reason.CONFLICTING_UPDATE


COMPARED = (  # (row column, stored column, field named in the reject)
    ("created", "opened_at", "created"),
    ("item_code", "item_code", "type"),
    ("community", "community_code", "community"),
    ("grid", "grid_code", "grid"),
    ("channel", "source", "channel"),
    ("reporter", "reporter", "reporter"),
    ("description", "description", "description"),
    ("building", "building", "building"),
    ("lat", "lat", "lat"),
    ("lon", "lon", "lon"),
)


def _same(a: Any, b: Any) -> bool:
    blank = (None, "")
    if (a in blank or a != a) and (b in blank or b != b):  # None, "" and NaN: no value
        return True
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def _shown(us: int) -> str:
    return "none" if us == NONE else from_us(us).isoformat()


def plan_update(row: dict[str, Any], stored: dict[str, Any]) -> Conflict | int | None:
    """What a changed source row means for its stored case: a conflict, nothing to do
    (``None``), or the rank after which its trail gets new steps."""
    for col, scol, field in COMPARED:
        if not _same(row[col], stored[scol]):
            a, b = row[col], stored[scol]
            if field == "created":
                a, b = _shown(a), _shown(b)
            return Conflict(field, f"{field} changed: ledger has {b!r}, source now {a!r}")
    if "source" in (row["deadline_source"], stored["deadline_source"]) and (
        row["handle_due"] != stored["handle_due"]
    ):
        return Conflict(
            "deadline",
            f"deadline changed: ledger has "
            f"{_shown(stored['handle_due'])}, source now {_shown(row['handle_due'])}",
        )
    cur, new = RANK[stored["status"]], RANK[row["status"]]
    if new < cur or (new == cur == 3 and row["status"] != stored["status"]):
        return Conflict(
            "status",
            f"the ledger has the case {stored['status']}; the source "
            f"now says {row['source_status']!r} ({row['status']})",
        )
    if cur >= 1:
        want = COMMUNITY_UNIT if row["status"] == "reported" else row["assignee"]
        if want != stored["assignee"]:
            return Conflict(
                "department",
                f"department changed: ledger has {stored['assignee']}, source now {want}",
            )
    if cur >= 2 and row["handled"] != stored["handled_at"]:
        return Conflict(
            "handled",
            f"handled time changed: ledger has "
            f"{_shown(stored['handled_at'])}, source now {_shown(row['handled'])}",
        )
    if cur == 3 and row["closed"] != stored["closed_at"]:
        return Conflict(
            "closed",
            f"closed time changed: ledger has "
            f"{_shown(stored['closed_at'])}, source now {_shown(row['closed'])}",
        )
    if new == cur:
        return None
    first = next(
        (row[k] for k, rank, _ in STEPS if rank > cur and k != "dispatched" and row[k] != NONE),
        NONE,
    )
    if first != NONE and first < stored["last_at"]:
        return Conflict(
            "handled" if row["handled"] == first else "closed",
            f"{_shown(first)} is before the case's last event "
            f"({_shown(stored['last_at'])}); events are appended in time order",
        )
    return cur


UPDATED = (
    "status",
    "assignee",
    "handled_at",
    "closed_at",
    "review_due",
    "updated_at",
    "clock_kind",
    "clock_due",
    "clock_unit",
    "next_sweep_at",
    "ladder_done",
    "supervision_level",
    "overdue",
    "overdue_since",
    "spot_check",
)


def update_values(
    rows: pd.DataFrame, stored: list[dict[str, Any]], lk: Lookups, ladder: Ladder, now_us: int
) -> list[dict[str, Any]]:
    """Column values (Python objects, for typed UPDATEs) of cases getting new steps."""
    n = len(rows)
    ck = clocks(rows, lk, ladder, now_us)
    after = np.array([s["last_at"] for s in stored], dtype=np.int64)
    times = step_times(rows, after)
    last = np.max(
        np.where(np.vstack(list(times.values())) == NONE, -1, np.vstack(list(times.values()))),
        axis=0,
    )
    assignee = case_assignee(rows)
    status = rows["status"].to_numpy(dtype=object)
    tier = rows["tier"].to_numpy()
    out = []

    def dt(us: int) -> Any:
        return None if us == NONE else from_us(us)

    for i in range(n):
        s = stored[i]
        values: dict[str, Any] = {
            "status": status[i],
            "assignee": assignee[i],
            "handled_at": dt(int(rows["handled"].iat[i])),
            "closed_at": dt(int(rows["closed"].iat[i])),
            "review_due": dt(int(rows["review_due"].iat[i])),
            "updated_at": dt(max(int(last[i]), s["last_at"])),
            "clock_kind": ck.kind[i],
            "clock_due": dt(int(ck.due[i])),
            "clock_unit": ck.unit[i],
            "next_sweep_at": dt(int(ck.next_sweep[i])),
            "ladder_done": 0,
            "supervision_level": None,
            "overdue": bool(ck.overdue[i]),
            "overdue_since": dt(int(ck.overdue_since[i])),
            "spot_check": False if spared(tier[i : i + 1], status[i : i + 1])[0] else None,
        }
        if RANK[s["status"]] < 1 and times["dispatched"][i] != NONE:
            values["dispatched_at"] = dt(int(times["dispatched"][i]))
        if status[i] == CaseStatus.CANCELLED.value:
            values["closed_at"] = None
        out.append(values)
    return out
