"""The import run: source rows → ledger cases and trails, idempotent and all-or-nothing per row.

Per chunk (20,000 rows by default): validate every row first (``prepare``), then, in one
transaction, look the chunk's source ids up, insert the new cases with block case numbers and
their trails, and append events to cases whose source row changed. A rejected row never
reaches the transaction, so one bad row cannot spoil its chunk; a chunk that meets a
concurrent writer (same source ids, same day counter, a case changed meanwhile) is rolled
back and done again from the lookup. Ids that occur more than once in the source are held
back to the end: identical copies are imported once, differing copies are all rejected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov.domain.errors import ConcurrentUpdate, InvalidInput
from gridgov.exchange import history, store
from gridgov.exchange.history import EventWriter
from gridgov.exchange.mapping import Mapping
from gridgov.exchange.prepare import Lookups, prepare
from gridgov.exchange.readers import RowSource
from gridgov.exchange.rejects import Reason, Reject, RejectFile
from gridgov.exchange.worktime import to_us
from gridgov.ledger.casebook import CaseBook, allocate_case_numbers
from gridgov.ledger.models import Case

ATTEMPTS = 3
Progress = Callable[[int, int], None]  # (records read so far, records in the source)


@dataclass
class Summary:
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejects_file: Path | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass
class _Outcome:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)


class Importer:
    def __init__(
        self,
        book: CaseBook,
        mapping: Mapping,
        *,
        now: datetime | None = None,
        chunk_size: int = 20_000,
        rejects: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        if chunk_size < 1:
            raise InvalidInput("chunk size must be at least 1", field="chunk_size")
        mapping.check_codes(book.catalog)
        self.book, self.mapping = book, mapping
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self.now_us = to_us(self.now)
        self.chunk_size = chunk_size
        self.rejects_path = rejects
        self.progress = progress
        self.lk = Lookups(mapping, book.catalog, book.calendar)

    def _check_ledger(self) -> None:
        cat = self.book.catalog
        missing = store.missing_references(
            self.book.engine,
            {
                "item": {(i.code, i.version) for i in cat.items},
                "department": set(cat.departments),
                "territory": set(cat.territory),
            },
        )
        if missing:
            raise InvalidInput(
                f"the ledger lacks {len(missing)} catalogue rows (e.g. {missing[0]}): "
                "run `gridgov init` first",
                field="catalog",
            )

    def run(self, source: RowSource) -> Summary:
        self._check_ledger()
        scan = source.scan()
        if self.progress:
            self.progress(0, scan.total)
        summary = Summary(rejects_file=self.rejects_path)
        out = RejectFile(self.rejects_path)
        held: list[pd.DataFrame] = []
        try:
            with store.bulk_connection(self.book.engine, checked=True) as conn:
                render = store.Render(conn.dialect.name)
                for chunk in source.chunks(self.chunk_size):
                    prepared = prepare(chunk, self.lk, self.now)
                    summary.read += len(chunk.frame) + len(chunk.unreadable)
                    out.add(prepared.rejects)
                    rows = prepared.rows
                    repeated = rows["source_id"].isin(scan.repeated).to_numpy()
                    if repeated.any():
                        held.append(rows[repeated])
                        rows = rows[~repeated]
                    self._apply(conn, render, rows.reset_index(drop=True), summary, out)
                    if self.progress:
                        self.progress(summary.read, scan.total)
                if held:
                    rows, dupes = self._settle_duplicates(pd.concat(held, ignore_index=True))
                    out.add(dupes)
                    summary.unchanged += int(len(pd.concat(held)) - len(rows) - len(dupes))
                    self._apply(conn, render, rows, summary, out)
        finally:
            out.close()
        summary.rejected = out.counts
        return summary

    @staticmethod
    def _settle_duplicates(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[Reject]]:
        """Identical copies of an id: the first is imported. Differing copies: all rejected,
        since nothing says which one is right."""
        rows = rows.sort_values("line", kind="stable")
        kinds = rows.groupby("source_id")["hash"].transform("nunique").to_numpy()
        conflict = rows[kinds > 1]
        lines = conflict.groupby("source_id")["line"].agg(lambda s: ", ".join(map(str, s)))
        rejects = [
            Reject(
                int(r.line),
                str(r.source_id),
                "id",
                Reason.DUPLICATE_ID,
                f"id appears with different data on lines {lines[r.source_id]}",
            )
            for r in conflict.itertuples()
        ]
        keep = rows[kinds == 1].drop_duplicates("source_id", keep="first")
        return keep.reset_index(drop=True), rejects

    def _apply(
        self,
        conn: Connection,
        render: store.Render,
        rows: pd.DataFrame,
        summary: Summary,
        out: RejectFile,
    ) -> None:
        if rows.empty:
            return
        for attempt in range(ATTEMPTS):
            try:
                with conn.begin():
                    result = self._write(conn, render, rows)
                break
            except (IntegrityError, ConcurrentUpdate) as exc:
                # Another writer took some of these ids, a day counter, or changed a case.
                if attempt == ATTEMPTS - 1:
                    raise ConcurrentUpdate(
                        f"gave up on a chunk after {ATTEMPTS} attempts: {exc}"
                    ) from exc
        summary.imported += result.imported
        summary.updated += result.updated
        summary.unchanged += result.unchanged
        out.add(result.rejects)

    def _write(self, conn: Connection, render: store.Render, rows: pd.DataFrame) -> _Outcome:
        system = self.mapping.source_system
        ids = rows["source_id"].tolist()
        known = store.known_cases(conn, system, ids)
        is_known = rows["source_id"].isin(known.keys()).to_numpy()
        result = _Outcome()
        if is_known.any():
            self._updates(conn, rows[is_known].reset_index(drop=True), known, result)
        new = rows[~is_known].reset_index(drop=True)
        if not new.empty:
            self._insert(conn, render, new)
            result.imported = len(new)
        return result

    def _insert(self, conn: Connection, render: store.Render, rows: pd.DataFrame) -> None:
        case_nos = np.empty(len(rows), dtype=object)
        days = rows["day"].to_numpy()
        with Session(bind=conn) as s:  # joins the chunk's transaction
            for day in np.unique(days).tolist():
                idx = np.flatnonzero(days == day)
                case_nos[idx] = allocate_case_numbers(s, str(day), len(idx))
        values = history.case_values(
            rows, case_nos.tolist(), self.lk, self.book.ladder, render, self.now_us
        )
        cols = tuple(values)
        above = store.max_case_id(conn)
        store.insert(conn, render, "cases", cols, zip(*(values[c] for c in cols), strict=True))
        id_of = store.case_ids(conn, self.mapping.source_system, rows["source_id"].tolist(), above)
        case_id = np.array([id_of[s] for s in rows["source_id"]], dtype=np.int64)
        events = EventWriter(self.lk, render, self.now_us).rows(rows, case_id)
        store.insert(conn, render, "case_events", store.EVENT_COLUMNS, events)

    def _updates(
        self, conn: Connection, rows: pd.DataFrame, known: dict[str, store.Known], result: _Outcome
    ) -> None:
        k = [known[s] for s in rows["source_id"]]
        changed = np.array([x.hash != h for x, h in zip(k, rows["hash"], strict=True)], dtype=bool)
        result.unchanged += int((~changed).sum())
        if not changed.any():
            return
        rows = rows[changed].reset_index(drop=True)
        k = [x for x, c in zip(k, changed, strict=True) if c]
        details = store.case_details(conn, [x.id for x in k])
        plans: list[int] = []
        picked: list[int] = []
        for i, rec in enumerate(rows.to_dict("records")):
            d = details[k[i].id]
            plan = history.plan_update(rec, d)
            if isinstance(plan, history.Conflict):
                result.rejects.append(
                    Reject(int(rec["line"]), rec["source_id"], plan.field, plan.reason, plan.detail)
                )
            elif plan is None:
                result.unchanged += 1
            else:
                plans.append(plan)
                picked.append(i)
        if not picked:
            return
        sub = rows.iloc[picked].reset_index(drop=True)
        stored = [details[k[i].id] for i in picked]
        render = store.Render(conn.dialect.name)
        events = EventWriter(self.lk, render, self.now_us).rows(
            sub,
            np.array([d["id"] for d in stored], dtype=np.int64),
            min_rank=np.array(plans, dtype=np.int64),
            first_seq=np.array([d["last_seq"] + 1 for d in stored], dtype=np.int64),
            first_from=np.array([d["status"] for d in stored], dtype=object),
            after=np.array([d["last_at"] for d in stored], dtype=np.int64),
        )
        store.insert(conn, render, "case_events", store.EVENT_COLUMNS, events)
        values = history.update_values(sub, stored, self.lk, self.book.ladder, self.now_us)
        for d, v in zip(stored, values, strict=True):
            stmt = (
                update(Case)
                .where(Case.id == bindparam("b_id"), Case.row_version == bindparam("b_rv"))
                .values(row_version=Case.row_version + 1, **v)
            )
            done = conn.execute(stmt, {"b_id": d["id"], "b_rv": d["row_version"]})
            if done.rowcount != 1:
                raise ConcurrentUpdate(f"case {d['case_no']} changed during the import")
        result.updated += len(picked)
