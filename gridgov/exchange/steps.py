"""The trail of an imported row: its steps and their events, as rows or as SQL (docs/exchange.md).

The trail is written directly as history (role ``system``, actor ``import:<source_system>``),
not through the live transition table, and keeps the ledger's invariants: seq 1…n per case,
events in time order, idempotency keys ``import:<system>:<source id>:<kind>``. A row's trail
is the steps its status reaches, in this order:

    created (opened) → dispatched (opened; when a department had it, or status dispatched)
    → handled (handled time, else closed time) → closed (closed time) | cancelled (closed time)

Imported history has no dispatch, acknowledgement or arrival times: the dispatch is recorded
at the opening moment and nothing is invented after it. An update appends the steps after the
case's present position (``exchange/changes.py``); it never rewrites a stored event.

New cases' trails are built here as rows (``EventWriter``, PostgreSQL and updates) or, on
SQLite, as one ``INSERT … SELECT`` over the staged case rows (``trail_sql``): the same
events, value for value (tests compare the ledgers both give).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.domain import keys
from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.exchange.prepare import NONE, Lookups
from gridgov.exchange.store import STAGE
from gridgov.ledger.chain import Same, Step
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
        self.now_us = now_us
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

    def payloads(self, kind: str, rows: pd.DataFrame, idx: npt.NDArray[np.intp]) -> list[Any]:
        """Each step's payload object, for the one serializer (trail_sql writes the same
        text) and the hash chain."""
        h = rows["hash"].to_numpy(dtype=object)[idx].tolist()
        if kind == "created":
            v = rows["item_version"].to_numpy()[idx].tolist()
            ch = rows["channel"].to_numpy(dtype=object)[idx].tolist()
            return [
                {"imported": True, "item_version": a, "source": b, "source_hash": c}
                for a, b, c in zip(v, ch, h, strict=True)
            ]
        if kind == "dispatched":
            d = rows["assignee"].to_numpy(dtype=object)[idx].tolist()
            return [
                {"department": a, "imported": True, "source_hash": b}
                for a, b in zip(d, h, strict=True)
            ]
        if kind == "handled":
            return [{"imported": True, "source_hash": b} for b in h]
        raw = rows["source_status"].to_numpy(dtype=object)[idx].tolist()
        reason = {"reason": self.reason} if kind == "cancelled" else {}
        return [
            {"imported": True, **reason, "source_status": s, "source_hash": b}
            for s, b in zip(raw, h, strict=True)
        ]

    def steps(
        self,
        rows: pd.DataFrame,
        case_id: I64,
        *,
        min_rank: I64 | None = None,
        first_seq: I64 | None = None,
        first_from: npt.NDArray[Any] | None = None,
        after: I64 | None = None,
    ) -> list[Step]:
        """The events of each row's steps ranked above ``min_rank`` (new cases: all of
        them), step by step as columns (times in µs, payloads as objects): what
        :meth:`rows` writes and ``chain.hash_steps`` hashes. ``Step.trails``: the rows."""
        n = len(rows)
        min_rank = np.full(n, -1, dtype=np.int64) if min_rank is None else min_rank
        seq = np.ones(n, dtype=np.int64) if first_seq is None else first_seq.copy()
        prev = np.full(n, None, dtype=object) if first_from is None else first_from.copy()
        times = step_times(rows, np.full(n, NONE, dtype=np.int64) if after is None else after)
        sids = rows["source_id"].to_numpy(dtype=object)
        out: list[Step] = []
        for kind, rank, to in STEPS:
            t = times[kind]
            idx = np.flatnonzero((t != NONE) & (rank > min_rank))
            if not idx.size:
                continue
            values: dict[str, list[Any] | Same] = {
                "case_id": case_id[idx].tolist(),
                "seq": seq[idx].tolist(),
                "kind": Same(kind),
                "actor": Same(self.actor),
                "role": Same(Role.SYSTEM.value),
                "department": Same(None),
                "community": Same(None),
                "at": t[idx].tolist(),
                "recorded_at": Same(self.now_us),
                "from_status": prev[idx].tolist(),
                "to_status": Same(to),
                "payload": self.payloads(kind, rows, idx),
                "idempotency_key": [self.key(s, kind) for s in sids[idx]],
            }
            out.append(Step(idx.tolist(), values))
            seq[idx] += 1
            prev[idx] = to
        return out

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
        return self.rows_of(
            self.steps(
                rows,
                case_id,
                min_rank=min_rank,
                first_seq=first_seq,
                first_from=first_from,
                after=after,
            )
        )

    def rows_of(self, steps: Sequence[Step]) -> list[tuple[Any, ...]]:
        """``case_events`` rows in stored form of :meth:`steps`, in (case, seq) order."""
        cols: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
        for step in steps:
            k = len(step.trails)
            for c, v in step.values.items():
                if c == "at":
                    cols[c] += self.render.times(np.asarray(v, dtype=np.int64))
                elif c == "payload":
                    cols[c] += [json_text(p) for p in cast(list[Any], v)]
                elif isinstance(v, Same):
                    cols[c] += [self.recorded if c == "recorded_at" else v.value] * k
                else:
                    cols[c] += v
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
