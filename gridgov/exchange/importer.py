"""The import run: source rows → ledger cases and trails, idempotent and all-or-nothing per row.

Per chunk (20,000 rows by default): validate every row first (``prepare``), then, in one
transaction, look the chunk's source ids up, insert the new cases in time order with block case
numbers (all the chunk's days in one reservation) and their trails, and append events to cases
whose source row changed. A rejected row never
reaches the transaction, so one bad row cannot spoil its chunk; a chunk that meets a
concurrent writer (same source ids, same day counter, a case changed meanwhile) is rolled
back and done again from the lookup. Ids that occur more than once in the source are held
back to the end: identical copies are imported once, differing copies are all rejected.

On SQLite the new cases of a chunk are staged in a temporary table and copied, with their
trails computed from them, by SQL (steps.trail_sql); while this thread waits on those
statements and the commit (SQLite runs without the GIL) a worker thread reads and prepares
the next chunk. On PostgreSQL the new cases (ids taken from their sequence first) and their
trails are written by COPY (``ledger.fastrows.copy_rows``), the next chunk prepared meanwhile
too. On both, a helper thread hashes the new trails (``ledger.chain.hash_steps``, from the
values they are written from: nothing is read back) during those waits; the hashes are
stored in the chunk's transaction. Chunks are still applied one after the other, in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov.domain.errors import ConcurrentUpdate, InvalidInput
from gridgov.domain.worktime import to_us
from gridgov.exchange import changes, store
from gridgov.exchange.case_rows import NewCases, new_cases
from gridgov.exchange.mapping import Mapping
from gridgov.exchange.prepare import Lookups, Prepared, prepare
from gridgov.exchange.readers import Chunk, RowSource
from gridgov.exchange.rejects import Reason, Reject, RejectFile
from gridgov.exchange.steps import EventWriter, event_count, trail_sql
from gridgov.ledger import timers
from gridgov.ledger.casebook import CaseBook, allocate_case_number_blocks
from gridgov.ledger.chain import GENESIS, hash_steps, link, store_hashes
from gridgov.ledger.fastrows import copy_rows, next_ids
from gridgov.ledger.models import Case
from gridgov.ledger.rows import EVENT_COLUMNS, Encoder
from gridgov.ledger.zone import check_zone

ATTEMPTS = 3
T = TypeVar("T")
Progress = Callable[[int, int], None]  # (records read so far, records in the source)


@dataclass
class Summary:
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejects_file: Path | None = None
    clamped: int = 0  # imported rows whose end time was clamped to the start (clock skew)

    @property
    def all_failed(self) -> bool:
        """Every row read was rejected: the import did nothing (the CLI exits 1)."""
        return self.read > 0 and self.rejected_total == self.read

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass
class _Outcome:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class _Ready:
    """A chunk's validated rows and, when it was prepared ahead (the chunk before it had
    new cases), the values its rows are written with if they are new cases too."""

    prepared: Prepared
    values: NewCases | None


class _Ahead:
    """Prepared chunks in order; :meth:`start` prepares the next one in a worker thread while
    this one waits on the database (SQLite runs without the GIL). Only one chunk is ever
    prepared at a time, by one thread or the other. (Meanwhile this thread uses the lookups'
    caches of pure values at most, when a chunk is retried.)"""

    def __init__(self, chunks: Iterator[Chunk], work: Callable[[Chunk, bool], _Ready]) -> None:
        self._chunks, self._work = chunks, work
        self._pool: ThreadPoolExecutor | None = None
        self._next: Future[tuple[Chunk, _Ready] | None] | None = None

    def _step(self, ahead: bool) -> tuple[Chunk, _Ready] | None:
        chunk = next(self._chunks, None)
        return None if chunk is None else (chunk, self._work(chunk, ahead))

    def start(self) -> None:
        if self._next is None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="gridgov-import")
            self._next = self._pool.submit(self._step, True)

    def __iter__(self) -> Iterator[tuple[Chunk, _Ready]]:
        return self

    def __next__(self) -> tuple[Chunk, _Ready]:
        if self._next is None:
            item = self._step(False)
        else:
            pending, self._next = self._next, None
            item = pending.result()
        if item is None:
            raise StopIteration
        return item

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._next = None
        close = getattr(self._chunks, "close", None)
        if close is not None:  # a generator: let it close its file now
            close()


class Importer:
    # SQLite: stage new cases and compute their trails by SQL (False: bind every row, as on
    # PostgreSQL; tests compare the two ledgers).
    STAGED = True
    # PostgreSQL: new cases and their trails by COPY (False: executemany, as before the
    # COPY path; tests compare the two ledgers).
    COPY = True

    def __init__(
        self,
        book: CaseBook,
        mapping: Mapping,
        *,
        now: datetime | None = None,
        chunk_size: int = 20_000,
        rejects: Path | None = None,
        progress: Progress | None = None,
        allow_other_zone: bool = False,
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
        self.calendar = mapping.working_calendar(book.calendar, allow_other_zone=allow_other_zone)
        self.lk = Lookups(mapping, book.catalog, self.calendar)
        self._ahead: _Ahead | None = None
        self._helper: ThreadPoolExecutor | None = None  # work beside a database wait

    def _in_background(self, work: Callable[[], T]) -> Future[T]:
        """``work`` in a helper thread, while this one waits on the database."""
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="gridgov-import-hash")
        return self._helper.submit(work)

    def _check_ledger(self) -> None:
        check_zone(self.book.engine, self.book.calendar.tz.key)
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
                render = Encoder(conn.dialect.name)
                self._ahead = ahead = _Ahead(
                    source.chunks(self.chunk_size), lambda c, ahead: self._ready(c, render, ahead)
                )
                for chunk, ready in ahead:
                    summary.read += len(chunk.frame) + len(chunk.unreadable)
                    out.add(ready.prepared.rejects)
                    summary.clamped += ready.prepared.clamped
                    rows = ready.prepared.rows
                    values = ready.values
                    repeated = rows["source_id"].isin(scan.repeated).to_numpy()
                    if repeated.any():
                        held.append(rows[repeated])
                        rows = rows[~repeated]
                        values = values and values.take(np.flatnonzero(~repeated))
                    self._apply(conn, render, rows.reset_index(drop=True), summary, out, values)
                    if self.progress:
                        self.progress(summary.read, scan.total)
                if held:
                    rows, dupes = self._settle_duplicates(pd.concat(held, ignore_index=True))
                    out.add(dupes)
                    summary.unchanged += int(len(pd.concat(held)) - len(rows) - len(dupes))
                    self._apply(conn, render, rows, summary, out)
        finally:
            if self._ahead is not None:
                self._ahead.close()
                self._ahead = None
            if self._helper is not None:
                self._helper.shutdown(wait=True, cancel_futures=True)
                self._helper = None
            out.close()
        summary.rejected = out.counts
        return summary

    def _ready(self, chunk: Chunk, render: Encoder, ahead: bool) -> _Ready:
        prepared = prepare(chunk, self.lk, self.now)
        if not ahead:  # new cases are not expected: work their values out when there are any
            return _Ready(prepared, None)
        return _Ready(prepared, self._new_cases(prepared.rows, render))

    def _new_cases(self, rows: pd.DataFrame, render: Encoder) -> NewCases:
        return new_cases(rows, self.lk, self.book.ladder, render, self.now_us)

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
        render: Encoder,
        rows: pd.DataFrame,
        summary: Summary,
        out: RejectFile,
        values: NewCases | None = None,
    ) -> None:
        """Write ``rows`` in one transaction (retried on a concurrent writer); ``values``:
        their new-case values, if worked out already."""
        if rows.empty:
            return
        for attempt in range(ATTEMPTS):
            try:
                with conn.begin():
                    result = self._write(conn, render, rows, values)
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

    def _write(
        self,
        conn: Connection,
        render: Encoder,
        rows: pd.DataFrame,
        values: NewCases | None,
    ) -> _Outcome:
        system = self.mapping.source_system
        ids = rows["source_id"].tolist()
        known = store.known_cases(conn, system, ids)
        is_known = rows["source_id"].isin(known.keys()).to_numpy()
        result = _Outcome()
        if is_known.any():
            self._updates(conn, rows[is_known].reset_index(drop=True), known, result)
        new = rows[~is_known].reset_index(drop=True)
        if not new.empty:
            if values is None:
                values = self._new_cases(new, render)
            else:
                values = values.take(np.flatnonzero(~is_known))
            # New cases in time order (stable: a file in time order stays as it is): a chunk
            # of a file not in time order then adds to the ledger's time-ordered indexes
            # (case numbers, opening and event times, and the ids that follow time in most
            # exports) in one sweep, not at random places (1.2-1.3x, docs/exchange.md).
            order = np.argsort(new["created"].to_numpy(dtype=np.int64), kind="stable")
            new = new.iloc[order].reset_index(drop=True)
            values = values.take(order)
            above = store.max_case_id(conn)
            self._insert(conn, render, new, values)
            timers.derive(conn, Case.id > above)  # the new cases' 督办 timers, from their rows
            result.imported = len(new)
        return result

    def _insert(self, conn: Connection, render: Encoder, rows: pd.DataFrame, new: NewCases) -> None:
        case_nos = np.empty(len(rows), dtype=object)
        days = rows["day"].to_numpy()
        # A block per local day, in row order within the day; all days of the chunk at once.
        order = np.argsort(days, kind="stable")
        day_of, first, count = np.unique(days[order], return_index=True, return_counts=True)
        counts = {str(d): int(c) for d, c in zip(day_of.tolist(), count.tolist(), strict=True)}
        with Session(bind=conn) as s:  # joins the chunk's transaction
            blocks = allocate_case_number_blocks(s, counts)
        for d, start, c in zip(day_of.tolist(), first.tolist(), count.tolist(), strict=True):
            case_nos[order[start : start + c]] = blocks[str(d)]
        values = {"case_no": case_nos.tolist(), **new.cases}
        above = store.max_case_id(conn)
        writer = EventWriter(self.lk, render, self.now_us)
        if render.sqlite and self.STAGED:
            # One staging table (of this connection) gets the case rows and what their
            # trails need; SQLite copies the cases and computes the trails from it, the same
            # values without binding each one into an indexed table. The new cases get the
            # ids above ``above`` in row order (this transaction holds the write lock since
            # it reserved case numbers), as they are staged at rowid 1…n.
            store.stage(conn, render, {**values, **new.trails})
            # From here on this thread waits on SQLite without the GIL: prepare the next
            # chunk, and hash the new trails (ledger/chain.py) from the values they are
            # computed from, meanwhile — the same hashes as reading them back
            # (test_import_cases), without the read.
            if self._ahead is not None:
                self._ahead.start()
            staged = np.arange(above + 1, above + 1 + len(rows), dtype=np.int64)
            hashed = self._in_background(
                lambda: hash_steps([GENESIS] * len(rows), writer.steps(rows, staged))
            )
            store.insert_from_stage(conn, "cases", list(values), new.constants)
            if store.max_case_id(conn) != above + len(rows):
                raise RuntimeError("imported cases did not get consecutive ids")
            done = conn.exec_driver_sql(
                trail_sql(),
                (
                    self.mapping.source_system,
                    writer.actor,
                    writer.recorded,
                    writer.reason_json,
                    above,
                ),
            )
            want = event_count(rows)
            if done.rowcount != want:
                raise RuntimeError(f"wrote {done.rowcount} events for {want} imported steps")
            store_hashes(conn, hashed.result())
            return
        if not render.sqlite and self.COPY:
            # PostgreSQL: COPY, with the case ids taken from their sequence first so the
            # events can name them without reading the cases back.
            ids = next_ids(conn, "cases", len(rows))
            if self._ahead is not None:  # psycopg waits without the GIL, as SQLite does
                self._ahead.start()
            steps = writer.steps(rows, np.array(ids, dtype=np.int64))
            # The new trails' hashes in the helper thread while the rows are sent and the
            # server inserts them (psycopg waits without the GIL).
            hashed = self._in_background(lambda: hash_steps([GENESIS] * len(rows), steps))
            constants = list(new.constants.values())
            copy_rows(
                conn,
                "cases",
                ["id", *values, *new.constants],
                ((*r, *constants) for r in zip(ids, *values.values(), strict=True)),
            )
            copy_rows(conn, "case_events", EVENT_COLUMNS, writer.rows_of(steps))
            store_hashes(conn, hashed.result())
            return
        store.insert_columns(conn, render, "cases", values, new.constants)
        id_of = store.case_ids(conn, self.mapping.source_system, rows["source_id"].tolist(), above)
        case_id = np.array([id_of[s] for s in rows["source_id"]], dtype=np.int64)
        trails = writer.rows(rows, case_id)
        store.insert(conn, render, "case_events", EVENT_COLUMNS, trails)
        link(conn, trails)  # the new trails' hashes (ledger/chain.py)

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
            plan = changes.plan_update(rec, d)
            if isinstance(plan, changes.Conflict):
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
        render = Encoder(conn.dialect.name)
        events = EventWriter(self.lk, render, self.now_us).rows(
            sub,
            np.array([d["id"] for d in stored], dtype=np.int64),
            min_rank=np.array(plans, dtype=np.int64),
            first_seq=np.array([d["last_seq"] + 1 for d in stored], dtype=np.int64),
            first_from=np.array([d["status"] for d in stored], dtype=object),
            after=np.array([d["last_at"] for d in stored], dtype=np.int64),
        )
        store.insert(conn, render, "case_events", EVENT_COLUMNS, events)
        link(conn, events)  # continuing each case's chain (ledger/chain.py)
        values = changes.update_values(sub, stored, self.lk, self.book.ladder, self.now_us)
        for d, v in zip(stored, values, strict=True):
            stmt = (
                update(Case)
                .where(Case.id == bindparam("b_id"), Case.row_version == bindparam("b_rv"))
                .values(row_version=Case.row_version + 1, **v)
            )
            done = conn.execute(stmt, {"b_id": d["id"], "b_rv": d["row_version"]})
            if done.rowcount != 1:
                raise ConcurrentUpdate(f"case {d['case_no']} changed during the import")
        timers.derive(conn, Case.id.in_([d["id"] for d in stored]))  # moved: timers follow
        result.updated += len(picked)
