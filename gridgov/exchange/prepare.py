"""One chunk of source text → validated, normalised rows ready for the ledger, and rejects.

Column-at-a-time (pandas/numpy): dates parsed with the mapping's format, codes looked up in
precomputed tables, catalogue versions found once per (item, local day), deadlines from the
vectorised calendar. A row with any problem is rejected whole, with the first problem found
in the order below; the other rows go on. Times are int64 µs since the epoch (UTC); ``NONE``
marks a missing one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridgov.domain.calendar import WorkingCalendar
from gridgov.domain.deadlines import DeadlineRules
from gridgov.domain.enums import TerritoryKind
from gridgov.domain.errors import UnknownItem
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.territory import outside
from gridgov.domain.tiers import tiers_where
from gridgov.domain.worktime import WorkClock, missing_years, span_us, to_us
from gridgov.exchange.mapping import NEEDS_END, TIME_FIELDS, Mapping, ValueMap
from gridgov.exchange.readers import Chunk, object_frame
from gridgov.exchange.rejects import Reason, Reject
from gridgov.item_catalog.loader import Catalog, deadline_rules
from gridgov.item_catalog.models import Item

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
NONE = np.iinfo(np.int64).max
US_PER_DAY = 86_400_000_000
MAX_ID = 128
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
LIMITS = ("acknowledge", "arrive", "handle", "review")


def _lookup(
    table: ValueMap, known: set[str], own: str | None = None
) -> tuple[dict[str, str], str | None]:
    """Source value → code: the table first, then values that are already codes, then (with
    a source catalogue's prefix) values that are the source's own codes."""
    out = {k: k for k in known}
    if own is not None:
        mine = f"{own}:"
        out.update(
            {k[len(mine) :]: k for k in known if k.startswith(mine) and k[len(mine) :] not in out}
        )
    out.update({k.strip(): v for k, v in table.values.items()})
    return out, table.default


class Lookups:
    """Everything a chunk needs that does not depend on the chunk: built once per import."""

    def __init__(self, mapping: Mapping, catalog: Catalog, calendar: WorkingCalendar) -> None:
        self.mapping, self.catalog, self.calendar = mapping, catalog, calendar
        self.clock = WorkClock(calendar)
        grids = {u.code: u.parent or "" for u in catalog.units(TerritoryKind.GRID)}
        communities = {u.code for u in catalog.units(TerritoryKind.COMMUNITY)}
        self.grid_parent = grids
        self.street_of = {c: catalog.street_of(c) for c in communities}
        self.status = {k.strip(): v for k, v in mapping.status.values.items()}
        own = mapping.own_codes
        self.types = _lookup(mapping.types, set(catalog.codes), own)
        self.departments = _lookup(mapping.departments, set(catalog.departments), own)
        self.communities = _lookup(mapping.communities, communities, own)
        self.grids = _lookup(mapping.grids, set(grids), own)
        self.channels = _lookup(mapping.channels, set())
        self._items: dict[tuple[str, int], Item | None] = {}
        self._rules: dict[tuple[str, int], tuple[int, ...]] = {}
        self._deadlines: dict[tuple[str, int], DeadlineRules] = {}
        self._assisting: dict[tuple[str, int], str] = {}

    def item_on(self, code: str, day: int) -> Item | None:
        key = (code, day)
        if key not in self._items:
            try:
                d = date(day // 10000, day // 100 % 100, day % 100)
                self._items[key] = self.catalog.item_on(code, d)
            except UnknownItem:
                self._items[key] = None
        return self._items[key]

    def validity(self, code: str) -> str:
        return self.catalog.validity(code)

    def rules(self, item: Item) -> DeadlineRules:
        key = (item.code, item.version)
        if key not in self._deadlines:
            self._deadlines[key] = deadline_rules(item)
        return self._deadlines[key]

    def assisting(self, item: Item) -> str:
        """The item's assisting departments as the JSON the case row stores."""
        key = (item.code, item.version)
        if key not in self._assisting:
            self._assisting[key] = json.dumps(list(item.assisting_departments))
        return self._assisting[key]

    def spans(self, item: Item) -> tuple[int, ...]:
        """(span µs, working 0/1) for acknowledge, arrive, handle, review; span -1: none."""
        key = (item.code, item.version)
        if key not in self._rules:
            rules = self.rules(item)
            out: list[int] = []
            for limit in LIMITS:
                d = getattr(rules, limit)
                out += [span_us(self.calendar, d), int(d.unit.is_working)] if d else [-1, 0]
            self._rules[key] = tuple(out)
        return self._rules[key]


@dataclass
class Prepared:
    rows: pd.DataFrame  # one row per importable source row (columns: see ``prepare``)
    rejects: list[Reject]
    clamped: int = 0  # rows whose end time was moved up to the start (clock skew)


def _day_label(yyyymmdd: int) -> str:
    d = int(yyyymmdd)
    return f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}"


class Said:
    """A message per row, formatted only for the rows that are rejected."""

    def __init__(self, template: str, *values: pd.Series) -> None:
        self.template = template
        self.values = [v.to_numpy(dtype=object) for v in values]

    def at(self, rows: npt.NDArray[np.intp]) -> list[str]:
        return [self.template.format(*(v[i] for v in self.values)) for i in rows.tolist()]


def _brace(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class _Problems:
    """The first problem of each row, in the order checks are made."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.field = np.full(n, "", dtype=object)
        self.detail = np.full(n, "", dtype=object)

    def add(self, mask: Mask, reason: Reason, field: str, detail: str | Said) -> None:
        m = np.asarray(mask, dtype=bool) & pd.isna(self.reason)
        if not m.any():
            return
        self.reason[m] = reason
        self.field[m] = field
        if isinstance(detail, Said):
            rows = np.flatnonzero(m)
            for r, text in zip(rows.tolist(), detail.at(rows), strict=True):
                self.detail[r] = text
        else:
            self.detail[m] = detail

    @property
    def ok(self) -> Mask:
        return np.asarray(pd.isna(self.reason), dtype=bool)


def _texts(frame: pd.DataFrame, name: str, n: int) -> pd.Series:
    if name not in frame:
        return pd.Series(np.full(n, "", dtype=object), dtype=object)
    # Plain Python strings: cheaper here than Arrow-backed ones, which every step would copy.
    return pd.Series(frame[name].to_numpy(dtype=object), dtype=object).str.strip().fillna("")


def parse_times(
    raw: pd.Series, fmt: str, tz: Any, ambiguous: str = "reject"
) -> tuple[I64, Mask, Mask, Mask]:
    """(µs UTC, present, parsed, unclear) per value; naive values are local to ``tz``.

    ``unclear``: a wall time that matches the format but is not one moment in ``tz`` — in a
    daylight-saving gap, or in a fall-back hour under ``ambiguous="reject"`` (``"earlier"`` /
    ``"later"`` pick the first or second occurrence).
    """
    n = len(raw)
    present = (raw != "").to_numpy(dtype=bool)
    out = np.full(n, NONE, dtype=np.int64)
    unclear = np.zeros(n, dtype=bool)
    if not present.any():
        return out, present, present.copy(), unclear
    if fmt == "iso":
        aware = present & raw.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool)
        fmt_kw = "ISO8601"
    else:
        aware = present if "%z" in fmt or "%Z" in fmt else np.zeros(n, dtype=bool)
        fmt_kw = fmt
    for mask, is_aware in ((aware, True), (present & ~aware, False)):
        if not mask.any():
            continue
        vals = pd.Series(raw.to_numpy()[mask], dtype=object)
        if is_aware:
            t = pd.to_datetime(vals, format=fmt_kw, utc=True, errors="coerce")
        else:
            t = pd.to_datetime(vals, format=fmt_kw, errors="coerce")
            if getattr(t.dt, "tz", None) is None:
                wall = t.notna().to_numpy()
                # pandas: True = the daylight-saving reading, i.e. the earlier occurrence.
                pick: Any = (
                    "NaT" if ambiguous == "reject" else np.full(len(t), ambiguous == "earlier")
                )
                t = t.dt.tz_localize(tz, ambiguous=pick, nonexistent="NaT")
                unclear[np.flatnonzero(mask)[wall & t.isna().to_numpy()]] = True
        us = t.dt.as_unit("us").array.asi8.copy()
        us[t.isna().to_numpy()] = NONE
        out[mask] = us
    parsed = out != NONE
    return out, present, parsed, unclear


def local_days(us: I64, tz: Any) -> npt.NDArray[np.int64]:
    """YYYYMMDD of each moment's local date."""
    t = pd.DatetimeIndex(pd.to_datetime(us, unit="us", utc=True)).tz_convert(tz)
    return np.asarray(t.year * 10000 + t.month * 100 + t.day, dtype=np.int64)


def _map(raw: pd.Series, table: tuple[dict[str, str], str | None]) -> pd.Series:
    mapped, default = table
    out = raw.map(mapped)
    if default is not None:
        out = out.where(out.notna(), default)
    return out


def prepare(chunk: Chunk, lk: Lookups, now: datetime) -> Prepared:
    m = lk.mapping
    f = chunk.frame
    n = len(f)
    tz = m.tz
    p = _Problems(n)
    sid = _texts(f, "id", n)
    sid_a = sid.to_numpy(dtype=object)
    p.add((sid == "").to_numpy(), Reason.MISSING_VALUE, "id", "no source id")
    p.add((sid.str.len() > MAX_ID).to_numpy(), Reason.TOO_LONG, "id", f"longer than {MAX_ID}")

    times: dict[str, I64] = {}
    raws: dict[str, pd.Series] = {}
    for name in TIME_FIELDS:
        raw = _texts(f, name, n)
        us, present, parsed, unclear = parse_times(
            raw, m.date_format_of(name), tz, m.ambiguous_times
        )
        if name == "created":
            p.add(~present, Reason.MISSING_VALUE, "created", "no created time")
        p.add(
            unclear,
            Reason.BAD_DATE,
            name,
            Said(
                "local time {} is not one moment in " + m.timezone + " (a daylight-saving "
                "change: skipped, or repeated in the fall-back hour; set ambiguous_times: "
                "earlier or later in the mapping to choose)",
                raw,
            ),
        )
        bad = present & ~parsed
        shown = Said("not a date in format " + _brace(m.date_format_of(name)) + ": {}", raw)
        p.add(bad, Reason.BAD_DATE, name, shown)
        times[name], raws[name] = us, raw
    # A deadline given as a date alone means the end of that local day.
    dl = times["deadline"]
    date_only = (dl != NONE) & (raws["deadline"].str.len() <= 10).to_numpy(dtype=bool)
    dl[date_only] += US_PER_DAY - 1

    raw_status = _texts(f, "status", n)
    target = raw_status.map(lk.status)
    if m.status.default is not None:
        target = target.where(target.notna(), m.status.default)
    no_status = target.isna().to_numpy()
    p.add(no_status & (raw_status == "").to_numpy(), Reason.MISSING_VALUE, "status", "no status")
    p.add(
        no_status,
        Reason.UNKNOWN_STATUS,
        "status",
        Said("status not in the mapping: {}", raw_status),
    )
    status = target.fillna("").to_numpy(dtype=object)

    created, closed, handled = times["created"], times["closed"], times["handled"]
    ends = np.isin(status, list(NEEDS_END))
    # The end times count only where the status says the case ended (an open source row may
    # carry a last-updated time in the same column, e.g. Open311's updated_datetime).
    closed = np.where(ends, closed, NONE)
    handled = np.where(np.isin(status, ["handled", "closed"]), handled, NONE)
    p.add(
        ends & (closed == NONE),
        Reason.MISSING_VALUE,
        "closed",
        Said("status {} needs a closed time", raw_status),
    )
    p.add(
        (status == "handled") & (handled == NONE),
        Reason.MISSING_VALUE,
        "handled",
        "status handled needs a handled time",
    )
    # Clock skew: an end a little before the start is a logging artefact, not an error.
    skew = int(m.clock_skew_seconds * 1_000_000)
    clamped = np.zeros(n, dtype=bool)
    for t in (handled, closed):
        early = (t != NONE) & (created != NONE) & (t < created) & (created - t <= skew)
        t[early] = created[early]
        clamped |= early
    now_us = to_us(now)
    for name, t in (("created", created), ("handled", handled), ("closed", closed)):
        p.add((t != NONE) & (t > now_us), Reason.IN_FUTURE, name, "after the import")
    p.add(
        (closed != NONE) & (closed < created),
        Reason.CLOSED_BEFORE_CREATED,
        "closed",
        Said(
            "closed {} before it was created {} (more than the "
            f"{m.clock_skew_seconds:g} s clock_skew_seconds)",
            raws["closed"],
            raws["created"],
        ),
    )
    p.add(
        (handled != NONE) & (handled < created),
        Reason.TIMES_OUT_OF_ORDER,
        "handled",
        Said("handled {} before it was created {}", raws["handled"], raws["created"]),
    )
    p.add(
        (handled != NONE) & (closed != NONE) & (closed < handled),
        Reason.TIMES_OUT_OF_ORDER,
        "closed",
        "closed before it was handled",
    )
    p.add(
        (dl != NONE) & (dl < created),
        Reason.TIMES_OUT_OF_ORDER,
        "deadline",
        "deadline before it was created",
    )
    # A closed case was handled when it closed, unless the source says when it was handled.
    status_closed = status == "closed"
    handled = np.where(status_closed & (handled == NONE), closed, handled)
    cancelled_at = np.where(status == "cancelled", closed, NONE)
    closed = np.where(status_closed, closed, NONE)

    raw_type = _texts(f, "type", n)
    item_code = _map(raw_type, lk.types)
    p.add(
        item_code.isna().to_numpy() & (raw_type == "").to_numpy(),
        Reason.MISSING_VALUE,
        "type",
        "no type",
    )
    p.add(
        item_code.isna().to_numpy(),
        Reason.UNKNOWN_TYPE,
        "type",
        Said("type not in the mapping and no catch-all: {}", raw_type),
    )

    place = _places(f, lk, n, p)
    raw_dept = _texts(f, "department", n)
    dept = _map(raw_dept, lk.departments)
    p.add(
        (raw_dept != "").to_numpy() & dept.isna().to_numpy(),
        Reason.UNKNOWN_DEPARTMENT,
        "department",
        Said("department not in the mapping and no default: {}", raw_dept),
    )
    raw_channel = _texts(f, "channel", n)
    channel = _map(raw_channel, lk.channels)
    p.add(
        channel.isna().to_numpy(),
        Reason.MISSING_VALUE,
        "channel",
        Said("channel not in the mapping and no default: {}", raw_channel),
    )
    lat, lon = _coordinates(f, n, p)

    # Catalogue version in force on the local created date, once per (item, day).
    ok = p.ok
    days = np.zeros(n, dtype=np.int64)
    days[ok] = local_days(created[ok], tz)
    codes = item_code.fillna("").to_numpy(dtype=object)
    items = np.full(n, None, dtype=object)
    for i in np.flatnonzero(ok):
        items[i] = lk.item_on(codes[i], int(days[i]))
    p.add(
        ok & pd.isna(items),
        Reason.ITEM_NOT_IN_FORCE,
        "type",
        Said(
            "item {} is not in the catalogue on {}: {}",
            item_code.fillna(""),
            pd.Series(days, dtype=object).map(_day_label),
            item_code.fillna("").map(lambda code: lk.validity(str(code))),
        ),
    )

    keep = p.ok
    rejects = [
        Reject(
            int(chunk.lines[i]),
            str(sid_a[i]),
            str(p.field[i]),
            Reason(p.reason[i]),
            str(p.detail[i]),
        )
        for i in np.flatnonzero(~keep)
    ]
    rejects += [
        Reject(line, "", "record", Reason.UNREADABLE, why) for line, why in chunk.unreadable
    ]
    idx = np.flatnonzero(keep)
    rows = _rows(
        lk,
        idx,
        {
            "line": chunk.lines,
            "source_id": sid_a,
            "status": status,
            "source_status": raw_status.to_numpy(dtype=object),
            "created": created,
            "handled": handled,
            "closed": closed,
            "cancelled": cancelled_at,
            "source_deadline": dl,
            "day": days,
            "item": items,
            "department": dept.to_numpy(dtype=object),
            "channel": channel.to_numpy(dtype=object),
            "source_channel": raw_channel.to_numpy(dtype=object),
            "attributes": _texts(f, "attributes", n).to_numpy(dtype=object),
            "reporter": _texts(f, "reporter", n).to_numpy(dtype=object),
            "description": _texts(f, "description", n).to_numpy(dtype=object),
            "building": _texts(f, "building", n).to_numpy(dtype=object),
            "lat": lat,
            "lon": lon,
            **place,
        },
    )
    return Prepared(rows, rejects, int((clamped & keep).sum()))


def _places(f: pd.DataFrame, lk: Lookups, n: int, p: _Problems) -> dict[str, Any]:
    raw_c = _texts(f, "community", n)
    raw_g = _texts(f, "grid", n)
    grid = _map(raw_g, (lk.grids[0], None))  # no default grid: a grid is optional
    has_g = (raw_g != "").to_numpy()
    p.add(
        has_g & grid.isna().to_numpy(),
        Reason.UNKNOWN_PLACE,
        "grid",
        Said("unknown grid {}", raw_g),
    )
    community = raw_c.map(lk.communities[0])
    from_grid = grid.map(lk.grid_parent)
    has_c = (raw_c != "").to_numpy()
    p.add(
        has_c & community.isna().to_numpy(),
        Reason.UNKNOWN_PLACE,
        "community",
        Said("unknown community {}", raw_c),
    )
    community = community.where(has_c, from_grid)
    default = lk.communities[1]
    if default is not None:
        community = community.where(community.notna() | has_g, default)
    p.add(community.isna().to_numpy(), Reason.MISSING_VALUE, "community", "no community")
    elsewhere = (
        has_c
        & has_g
        & grid.notna().to_numpy()
        & (from_grid.to_numpy(dtype=object) != community.to_numpy(dtype=object))
    )
    p.add(
        elsewhere,
        Reason.UNKNOWN_PLACE,
        "grid",
        Said(outside("{}", "{}"), raw_g, raw_c),  # the rule's own words
    )
    return {
        "community": community.to_numpy(dtype=object),
        "grid": grid.to_numpy(dtype=object),
    }


def _coordinates(f: pd.DataFrame, n: int, p: _Problems) -> tuple[Any, Any]:
    out = []
    for name, limit in (("lat", 90.0), ("lon", 180.0)):
        raw = _texts(f, name, n)
        value = pd.to_numeric(raw.where(raw != ""), errors="coerce").to_numpy(dtype=float)
        bad = (raw != "").to_numpy() & ~(np.abs(value) <= limit)
        p.add(
            bad,
            Reason.BAD_NUMBER,
            name,
            Said(f"{name} not a number within ±{limit:g}: {{}}", raw),
        )
        out.append(value)
    return out[0], out[1]


def _rows(lk: Lookups, idx: npt.NDArray[np.intp], cols: dict[str, Any]) -> pd.DataFrame:
    """The importable rows: item facts, assignee, place, deadlines and the content hash."""
    d = {k: np.asarray(v)[idx] for k, v in cols.items()}
    items = d.pop("item")
    k = len(idx)
    tier = np.fromiter((int(i.tier) for i in items), dtype=np.int64, count=k)
    lead = np.array([i.lead_department for i in items], dtype=object)
    # The tier's default handler (domain/tiers.py), vectorised.
    default_assignee = np.where(np.isin(tier, tiers_where("lead_handles")), lead, COMMUNITY_UNIT)
    dept = d.pop("department")
    assignee = np.where(pd.isna(dept), default_assignee, dept)
    spans = np.array([lk.spans(i) for i in items], dtype=np.int64).reshape(k, 8)
    created, handled = d["created"], d["handled"]
    clock = lk.clock

    def due(start: I64, limit: int) -> I64:
        span, working = spans[:, 2 * limit], spans[:, 2 * limit + 1].astype(bool)
        out = np.full(k, NONE, dtype=np.int64)
        has = (span >= 0) & (start != NONE)
        out[has] = clock.deadline(start[has], span[has], working[has])
        return out

    src_dl = d.pop("source_deadline")
    # Rows the source gave no deadline: the item's limit, or none when the mapping says the
    # source's silence means none (then the lack of a deadline is the source's, too).
    # A row the source left without one has no limits at all: never overdue, never laddered.
    if lk.mapping.missing_deadline == "none":
        handle_due, from_source = src_dl, np.ones(k, dtype=bool)
    else:
        handle_due, from_source = np.where(src_dl != NONE, src_dl, due(created, 2)), src_dl != NONE
    timed = handle_due != NONE

    def limit(start: I64, which: int) -> I64:
        return np.where(timed | ~from_source, due(start, which), NONE)

    ack_due, arrive_due, review_due = limit(created, 0), limit(created, 1), limit(handled, 3)
    kept = from_source & timed  # the source's own deadline
    provisional = _provisional(
        lk,
        spans,
        [
            (0, created, ack_due),
            (1, created, arrive_due),
            (2, created, handle_due),
            (3, handled, review_due),
        ],
        kept,
    )

    reporter = np.where(d["reporter"] == "", lk.mapping.reporter or lk.mapping.actor, d["reporter"])
    out = object_frame(
        {
            **d,
            "reporter": np.array([r[:120] for r in reporter], dtype=object),
            "building": np.array([b[:120] for b in d["building"]], dtype=object),
            "item_code": np.array([i.code for i in items], dtype=object),
            "item_version": np.fromiter((i.version for i in items), np.int64, count=k),
            "item_name": np.array([i.name_zh for i in items], dtype=object),
            "category": np.array([i.category for i in items], dtype=object),
            "tier": tier,
            "lead": lead,
            "assisting": np.array([lk.assisting(i) for i in items], dtype=object),
            "assignee": assignee.astype(object),
            "street": np.array([lk.street_of[c] for c in d["community"]], dtype=object),
            "acknowledge_due": ack_due,
            "arrive_due": arrive_due,
            "handle_due": handle_due,
            "review_due": review_due,
            "deadline_source": np.where(from_source, "source", "catalog").astype(object),
            "provisional_years": provisional,
        }
    )
    out["hash"] = content_hash(out)
    return out


def _provisional(
    lk: Lookups, spans: I64, windows: list[tuple[int, I64, I64]], kept: Mask
) -> npt.NDArray[np.object_]:
    """Years without holiday data that a row's working-time deadlines reach (as the case book
    marks them, ``ledger.clocks.provisional_years``), so `gridgov calendar recount` lays them
    out again once the year is added. ``windows``: (limit index, start, due). Only for
    histories counted on the ledger's own calendar: a mapping's own calendar (``calendar:``)
    is the source's record, not ours to recount; so is a deadline kept from the source."""
    n = len(kept)
    if lk.mapping.calendar is not None:
        return np.full(n, None, dtype=object)
    marked = []
    for limit, start, due in windows:
        working = spans[:, 2 * limit + 1].astype(bool) & (spans[:, 2 * limit] >= 0)
        marked.append((start, due, working & ~kept if limit == 2 else working))
    return missing_years(lk.calendar, marked)


HASHED = (
    "source_id",
    "status",
    "source_status",
    "created",
    "handled",
    "closed",
    "cancelled",
    "handle_due",
    "deadline_source",
    "item_code",
    "assignee",
    "community",
    "grid",
    "channel",
    "reporter",
    "description",
    "building",
    "lat",
    "lon",
)


def content_hash(rows: pd.DataFrame) -> list[str]:
    """A digest of everything an import stores for a row: equal digests, nothing to do."""
    cols = [rows[c].to_numpy(dtype=object) for c in HASHED]
    return [
        hashlib.blake2b("\x1f".join(map(str, t)).encode(), digest_size=10).hexdigest()
        for t in zip(*cols, strict=True)
    ]
