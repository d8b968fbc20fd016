"""The tamper-evident trail: every event's hash chained per case, sealed by signed checkpoints.

One home for the rule, whatever writes the event (case book, sweep, bulk intake, import):

* ``event hash = sha256(previous hash of the case ‖ canonical content of the event)``; the
  content is every column of the row but the surrogate id (case id, seq, kind, actor, role,
  department, community, at and recorded_at in µs, from/to status, payload as sorted JSON,
  idempotency key): all values a writer knows before the database numbers the row, so bulk
  writers hash what they insert. Each writer calls :func:`link` (rows), or
  :func:`hash_steps` (trails as columns, step by step: the importer's new cases) and then
  :func:`store_hashes`, in **its own transaction**: an event and its hash commit together
  or not at all. Hashes are keyed by (case id, seq) in ``event_hashes``.
* a **checkpoint** (:func:`seal`, daily by the ``seal-trail`` deployment) signs a Merkle root
  over the heads of the cases changed since the previous checkpoint, chained to it, with an
  Ed25519 key the database writer does not hold, and appends it to an operator-chosen file;
* :func:`verify` recomputes every chain from the events and checks every stored hash, root,
  link and signature with the public key; it names the first broken event of each case by
  its case number — an event written without its hash included.

See docs/audit-trail.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, Table, and_, delete, func, insert, select, update

from gridgov.domain.errors import InvalidInput
from gridgov.ledger.fastrows import COPY_FROM, copy_rows
from gridgov.ledger.models import Case, CaseEvent, LedgerSetting
from gridgov.ledger.rows import EVENT_COLUMNS, Encoder
from gridgov.ledger.seal_models import EventHash, TrailCheckpoint

GENESIS = "0" * 64
MISSING = "-"  # in a leaf recomputed by verify: the sealed head event is gone
CLAIMED = -1  # event_hashes.checkpoint_id while a seal is signing them
CHECKPOINT = tuple(TrailCheckpoint.__table__.c)
HASHES = cast(Table, EventHash.__table__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
# A checkpoint note left by a migration that hashed existing events (the migration cannot
# sign): the next seal puts it in its checkpoint and removes it.
PENDING_NOTE = "trail_pending_note"
_HASH_COLUMNS = ("case_id", "seq", "hash")
COLUMNS = (CaseEvent.id, *(CaseEvent.__table__.c[c] for c in EVENT_COLUMNS))
# What an event's hash covers, in this order. A column added to case_events fails here until
# someone decides whether (and how, for existing chains) it is hashed: docs/audit-trail.md.
HASHED = (
    "case_id",
    "seq",
    "kind",
    "actor",
    "role",
    "department",
    "community",
    "at",
    "recorded_at",
    "from_status",
    "to_status",
    "payload",
    "idempotency_key",
)
assert EVENT_COLUMNS == HASHED, EVENT_COLUMNS
# The canonical content of a row is ``json.dumps(values, sort_keys=True, separators=(",", ":"),
# ensure_ascii=False)`` of its values with the times in µs and the payload parsed. Only the
# payload can hold a mapping, so the row's text is assembled from its parts: each string
# column by the encoder json.dumps uses for it, the payload by a C encoder built once with
# json.dumps's settings (json.dumps builds one per call), cached per distinct payload text.
# Equal to json.dumps of the row at half its cost (test_chain pins the rule).
_STR: Callable[[str], str] = json.encoder.encode_basestring  # the ensure_ascii=False form
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_SORTED = (
    _C_ENCODER({}, json.JSONEncoder().default, _STR, None, ":", ",", True, False, True)
    if _C_ENCODER is not None
    else None
)


def _canonical_json(value: Any) -> str:
    if _SORTED is None:  # pragma: no cover - CPython has the C encoder
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "".join(_SORTED(value, 0))


_EPOCH_DAY = EPOCH.toordinal()


def _us(t: datetime) -> int:
    """µs since the epoch, in integers (a timedelta floor division costs 5x more, and this
    runs twice per event written)."""
    if t.tzinfo is not None and t.tzinfo is not UTC:
        t = t.astimezone(UTC)  # a driver's naive value is UTC already
    return (
        (t.toordinal() - _EPOCH_DAY) * 86_400_000_000
        + ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000
        + t.microsecond
    )


class _Canon:
    """Values as every writer may hold them — aware datetimes or their stored text (SQLite's
    ``YYYY-MM-DD HH:MM:SS.ffffff``, the importer's ISO ``…+00:00``), payloads parsed or as
    JSON text — in the one canonical form; repeated values are converted once."""

    __slots__ = ("payloads", "texts", "times")

    def __init__(self) -> None:
        self.times: dict[Any, str] = {}  # a time as held → its µs since the epoch, as text
        self.payloads: dict[str, str] = {}  # payload JSON text → its canonical text
        self.texts: dict[Any, str] = {None: "null"}  # NULL of a string column

    def time(self, value: Any) -> str:
        try:
            return self.times[value]
        except KeyError:
            t = datetime.fromisoformat(value) if isinstance(value, str) else value
            out = self.times[value] = str(_us(t))
            return out

    def payload(self, value: Any) -> str:
        """The payload's canonical JSON (JSON text is parsed once per distinct text)."""
        if not isinstance(value, str):
            return _canonical_json(value)
        try:
            return self.payloads[value]
        except KeyError:
            out = self.payloads[value] = _canonical_json(_loads(value))
            return out

    def content(self, row: Sequence[Any]) -> bytes:
        """The canonical bytes of an event row in ``EVENT_COLUMNS`` (= ``HASHED``) order:
        ``json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` of
        the row with its times in µs and its payload parsed."""
        case_id, seq, kind, actor, role, dept, community, at, rec, frm, to, payload, key = row
        null, times = self.texts, self.times
        return (
            f"[{int(case_id)},{int(seq)},{_STR(kind)},{_STR(actor)},{_STR(role)},"
            f"{null.get(dept) or _STR(dept)},{null.get(community) or _STR(community)},"
            f"{times.get(at) or self.time(at)},{times.get(rec) or self.time(rec)},"
            f"{null.get(frm) or _STR(frm)},{_STR(to)},{self.payload(payload)},{_STR(key)}]"
        ).encode()

    def column(self, name: str, values: Sequence[Any] | Same, n: int) -> Iterable[str]:
        """The canonical text of ``n`` values of one ``HASHED`` column, as :meth:`content`
        writes them (times may also be given as µs integers)."""
        if isinstance(values, Same):
            return repeat(next(iter(self.column(name, [values.value], 1))), n)
        if name in _INTEGERS:
            return [str(int(v)) for v in values]
        if name in _TIMES:
            t = self.times
            return [str(v) if isinstance(v, int) else (t.get(v) or self.time(v)) for v in values]
        if name == "payload":
            return [self.payload(v) for v in values]
        null = self.texts
        return [null.get(v) or _STR(v) for v in values]


_INTEGERS = frozenset(("case_id", "seq"))
_TIMES = frozenset(("at", "recorded_at"))


@dataclass(frozen=True, slots=True)
class Same:
    """A column whose every event in a step has this value."""

    value: Any


@dataclass(frozen=True, slots=True)
class Step:
    """The same step of many trails, as columns: the ``trails`` (positions in the heads
    :func:`hash_steps` is given) get one event each, valued per ``HASHED`` column by
    ``values`` (one value per event in stored or Python form, or :class:`Same`)."""

    trails: Sequence[int]
    values: Mapping[str, Sequence[Any] | Same]


def _loads(text: str) -> Any:
    try:
        return _fast_loads(text)
    except ValueError:  # what orjson refuses (NaN, huge integers): the standard parser
        return json.loads(text)


_fast_loads: Callable[[str], Any] = json.loads
try:  # 4x faster parsing of the bulk writers' payload text (orjson comes with Prefect)
    from orjson import loads as _orjson_loads

    _fast_loads = _orjson_loads
except ImportError:  # pragma: no cover
    pass


def content(row: Any) -> bytes:
    """The canonical bytes of one event read back (attributes named as the columns)."""
    return _Canon().content([getattr(row, c) for c in EVENT_COLUMNS])


def event_hash(previous: str, row: Any) -> str:
    return _hash(previous, content(row))


def _hash(previous: str, data: bytes) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + data).hexdigest()


def leaf(case_id: int, seq: int, head: str) -> str:
    return hashlib.sha256(f"{case_id}:{seq}:{head}".encode()).hexdigest()


def merkle_root(leaves: list[str]) -> str:
    """Pairwise sha256 up to one root (an odd node is paired with itself)."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    level = leaves
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [
            hashlib.sha256((level[i] + level[i + 1]).encode()).hexdigest()
            for i in range(0, len(level), 2)
        ]
    return level[0]


def checkpoint_digest(
    root: str, previous: str, upto: int, cases: int, events: int, sealed_at: datetime
) -> str:
    body = {
        "root": root,
        "previous": previous,
        "upto_event_id": upto,
        "cases": cases,
        "events": events,
        "sealed_at": _us(sealed_at),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# Writing: every writer, in its own transaction --------------------------------------------


def _heads(conn: Connection, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The stored hashes of these (case id, seq) events: one primary-key seek each.

    A join with a VALUES list, not ``(case_id, seq) IN (…)``: SQLite plans a row-value IN
    list as a scan of the whole table (measured: 393 ms per 500 pairs on 500k hashes, against
    4.5 ms for the join)."""
    out: dict[tuple[int, int], str] = {}
    mark = Encoder.of(conn).mark
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        pairs = ", ".join([f"({mark}, {mark})"] * len(chunk))
        result = conn.exec_driver_sql(
            f"WITH w (c, s) AS (VALUES {pairs}) SELECT h.case_id, h.seq, h.hash FROM w "
            f"JOIN {HASHES.name} h ON h.case_id = w.c AND h.seq = w.s",
            tuple(x for pair in chunk for x in pair),
        )
        out.update({(c, s): x for c, s, x in _fetched(result)})
    return out


def _fetched(result: Any) -> list[Any]:
    """The driver's own tuples (no per-row result processing)."""
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    return rows


def link(
    conn: Connection,
    rows: Sequence[Sequence[Any]],
    heads: Mapping[tuple[int, int], str] | None = None,
) -> int:
    """Hash new event rows (``EVENT_COLUMNS`` order, Python or stored form, ordered by case
    and seq) onto their cases' chains and store the hashes, in the caller's transaction.

    A row continues the chain of the row before it when that is the same case's previous
    event; else the stored hash of its previous event (none for seq 1): from ``heads``
    ((case id, seq) → hash, :data:`GENESIS` where none is stored) when the writer read them
    with its own rows (the sweep), else read here, one query per 500 cases. If that hash is
    missing — an event written around this function — the chain restarts from zeros, and
    :func:`verify` names the event that has no hash."""
    if not rows:
        return 0
    known = heads or {}
    wanted: list[tuple[int, int]] = []
    case, seq = None, 0
    for r in rows:
        c, s = r[0], r[1]
        if s > 1 and not (c == case and s == seq + 1) and (c, s - 1) not in known:
            wanted.append((c, s - 1))
        case, seq = c, s
    stored = {**known, **_heads(conn, wanted)} if wanted else known
    canon = _Canon()
    out: list[tuple[int, int, str]] = []
    add = out.append
    case, seq, head = None, 0, GENESIS
    for r in rows:
        if not (r[0] == case and r[1] == seq + 1):
            head = stored.get((r[0], r[1] - 1), GENESIS)
        case, seq = r[0], r[1]
        head = _hash(head, canon.content(r))
        add((case, seq, head))
    store_hashes(conn, out)
    return len(out)


def hash_steps(heads: list[str], steps: Iterable[Step]) -> list[tuple[int, int, str]]:
    """The (case id, seq, hash) rows of trails given step by step as columns (a bulk
    writer's events before it builds rows, e.g. the importer's new cases), in (case, seq)
    order: each step continues ``heads`` (per trail, the hash its next event continues:
    :data:`GENESIS` for a new case), which it advances. The hashes :func:`link` gives the
    same events as rows (test_chain), at a fraction of the cost: constant columns are made
    canonical once, and nothing is read back. Pure: a writer may run it in another thread
    while the database works."""
    canon = _Canon()
    case_ids: list[Any] = []
    seqs: list[Any] = []
    hashes: list[str] = []
    for step in steps:
        n = len(step.trails)
        parts = zip(*(canon.column(c, step.values[c], n) for c in HASHED), strict=True)
        for i, p in zip(step.trails, parts, strict=True):
            heads[i] = x = _hash(heads[i], f"[{','.join(p)}]".encode())
            hashes.append(x)
        for name, out in (("case_id", case_ids), ("seq", seqs)):
            v = step.values[name]
            out += [v.value] * n if isinstance(v, Same) else v
    order = np.lexsort((np.asarray(seqs, dtype=np.int64), np.asarray(case_ids, dtype=np.int64)))
    return [(int(case_ids[i]), int(seqs[i]), hashes[i]) for i in order.tolist()]


def store_hashes(conn: Connection, out: list[tuple[int, int, str]]) -> None:
    """Insert (case id, seq, hash) rows. Plain tuples to the driver (COPY on PostgreSQL past
    a few hundred rows): SQLAlchemy's insert of one dict per row cost as much as the
    hashing. On SQLite past a few hundred rows, one statement over the rows as one JSON
    text (``json_each``): executemany releases and retakes the GIL around every row, and
    while another thread of the writer runs Python (the importer prepares its next chunk
    meanwhile) each retake waits up to the interpreter's switch interval (5 ms)."""
    if not out:
        return
    if conn.dialect.name == "postgresql" and len(out) >= COPY_FROM:
        copy_rows(conn, HASHES.name, _HASH_COLUMNS, out)
    elif conn.dialect.name == "sqlite" and len(out) >= COPY_FROM:
        picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_HASH_COLUMNS)))
        conn.exec_driver_sql(
            f"INSERT INTO {HASHES.name} ({', '.join(_HASH_COLUMNS)}) "
            f"SELECT {picks} FROM json_each(?)",
            (json.dumps(out, separators=(",", ":")),),
        )
    else:
        marks = ", ".join([Encoder.of(conn).mark] * len(_HASH_COLUMNS))
        conn.exec_driver_sql(
            f"INSERT INTO {HASHES.name} ({', '.join(_HASH_COLUMNS)}) VALUES ({marks})", out
        )


def link_event(conn: Connection, event: CaseEvent) -> None:
    """:func:`link` for one ORM event (the case book), once flushed."""
    link(conn, [[getattr(event, c) for c in EVENT_COLUMNS]])


def rehash_missing(conn: Connection, *, cases_per_pass: int = 20_000) -> int:
    """Hash every event that has no hash yet, continuing each case's stored chain: for
    ledgers written before the writers hashed (run once by a migration). Returns how many."""
    h = HASHES.c
    unhashed = ~select(h.seq).where(h.case_id == CaseEvent.case_id, h.seq == CaseEvent.seq).exists()
    done, lo = 0, 0
    while True:  # a bounded number of cases per pass: memory stays flat on big ledgers
        hi = conn.scalar(
            select(Case.id)
            .where(Case.id > lo)
            .order_by(Case.id)
            .offset(cases_per_pass - 1)
            .limit(1)
        )
        span = (
            CaseEvent.case_id > lo
            if hi is None
            else and_(CaseEvent.case_id > lo, CaseEvent.case_id <= hi)
        )
        rows = conn.execute(
            select(*COLUMNS[1:]).where(span, unhashed).order_by(CaseEvent.case_id, CaseEvent.seq)
        ).all()
        done += link(conn, rows)
        if hi is None:
            return done
        lo = hi


# Sealing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    id: int
    sealed_at: datetime
    upto_event_id: int
    cases: int
    events: int
    root: str
    digest: str
    note: str


def seal(
    engine: Engine,
    key: Ed25519PrivateKey,
    *,
    now: datetime | None = None,
    export: Path | None = None,
    note: str = "",
) -> Checkpoint:
    """Sign a checkpoint over the heads of the cases whose hashes (stored by the writers) no
    checkpoint holds yet, and mark those hashes as this checkpoint's; append it to
    ``export``. The hashes are claimed by one UPDATE: a writer's transaction still in flight
    is simply left to the next checkpoint (event ids are not commit-ordered on PostgreSQL)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    h = HASHES.c
    with engine.begin() as conn:
        last = conn.execute(
            select(*CHECKPOINT).order_by(TrailCheckpoint.id.desc()).limit(1)
        ).first()
        rows = conn.execute(
            update(HASHES)
            .where(h.checkpoint_id.is_(None))
            .values(checkpoint_id=CLAIMED)
            .returning(h.case_id, h.seq, h.hash)
        ).all()
        heads: dict[int, tuple[int, str]] = {}
        for case_id, seq, x in rows:
            if case_id not in heads or seq > heads[case_id][0]:
                heads[case_id] = (seq, x)
        upto = conn.scalar(select(func.max(CaseEvent.id))) or 0
        touched = sorted(heads)
        root = merkle_root([leaf(c, *heads[c]) for c in touched])
        previous = last.digest if last else GENESIS
        pending = conn.scalar(select(LedgerSetting.value).where(LedgerSetting.key == PENDING_NOTE))
        note = "; ".join(n for n in (note, pending) if n)
        digest = checkpoint_digest(root, previous, upto, len(touched), len(rows), now)
        signature = key.sign(bytes.fromhex(digest)).hex()
        cp_id = conn.execute(
            insert(TrailCheckpoint).returning(TrailCheckpoint.id),
            {
                "sealed_at": now,
                "upto_event_id": upto,
                "cases": len(touched),
                "events": len(rows),
                "root": root,
                "previous": previous,
                "digest": digest,
                "signature": signature,
                "note": note,
            },
        ).scalar_one()
        conn.execute(update(HASHES).where(h.checkpoint_id == CLAIMED).values(checkpoint_id=cp_id))
        if pending is not None:
            conn.execute(delete(LedgerSetting).where(LedgerSetting.key == PENDING_NOTE))
    cp = Checkpoint(cp_id, now, upto, len(touched), len(rows), root, digest, note)
    if export is not None:
        line = {
            "id": cp_id,
            "sealed_at": now.isoformat(),
            "upto_event_id": upto,
            "cases": len(touched),
            "events": len(rows),
            "root": root,
            "previous": previous,
            "digest": digest,
            "signature": signature,
            "key": fingerprint(key.public_key()),
            "note": note,
        }
        export.parent.mkdir(parents=True, exist_ok=True)
        with export.open("a", encoding="utf-8") as f:  # append-only, outside the database
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return cp


# Verifying -------------------------------------------------------------------------------


@dataclass
class TrailReport:
    cases: int = 0
    events: int = 0
    unsealed: int = 0  # written since the last checkpoint
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _events(conn: Connection) -> Iterator[Any]:
    h = HASHES.c
    stmt = (
        select(*COLUMNS[1:], Case.case_no, h.hash, h.checkpoint_id)
        .join(Case, Case.id == CaseEvent.case_id)
        .outerjoin(EventHash, and_(h.case_id == CaseEvent.case_id, h.seq == CaseEvent.seq))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
        .execution_options(yield_per=10_000)
    )
    yield from conn.execute(stmt)


def verify(
    engine: Engine,
    public: Ed25519PublicKey,
    *,
    since: datetime | None = None,
    exported: Path | None = None,
) -> TrailReport:
    """Prove every chain and every checkpoint (from ``since`` on); name what is broken."""
    rep = TrailReport()
    recomputed: dict[tuple[int, int], str] = {}  # (case id, seq) → hash from the events
    h = HASHES.c
    canon = _Canon()
    n = len(HASHED)
    with engine.connect() as conn:
        prev_case, prev_hash, broken = None, GENESIS, False
        for r in _events(conn):
            if r.case_id != prev_case:
                prev_case, prev_hash, broken = r.case_id, GENESIS, False
                rep.cases += 1
            rep.events += 1
            x = _hash(prev_hash, canon.content(r[:n]))
            recomputed[(r.case_id, r.seq)] = prev_hash = x
            if r.checkpoint_id is None:
                rep.unsealed += 1
            if broken:
                continue
            if r.hash is None:
                broken = True
                rep.problems.append(
                    f"{r.case_no} event {r.seq} ({r.kind}): has no hash (written around the "
                    "trail's writers, or an event before it was deleted and the rest renumbered)"
                )
            elif r.hash != x:
                broken = True
                rep.problems.append(
                    f"{r.case_no} event {r.seq} ({r.kind}): differs from its hash on the trail "
                    "(this event or one before it was edited, deleted or inserted)"
                )
        orphans = conn.execute(
            select(h.case_id, h.seq, Case.case_no)
            .outerjoin(Case, Case.id == h.case_id)
            .where(
                ~select(CaseEvent.id)
                .where(CaseEvent.case_id == h.case_id, CaseEvent.seq == h.seq)
                .exists()
            )
            .order_by(h.case_id, h.seq)
        )
        for case_id, seq, no in orphans:
            rep.problems.append(f"{no or case_id} event {seq}: hashed, but no longer in the ledger")
        # Per checkpoint, the head (highest seq) of each case it sealed.
        sealed: dict[int, dict[int, int]] = {}
        for cp_id, case_id, seq in conn.execute(
            select(h.checkpoint_id, h.case_id, h.seq).where(h.checkpoint_id.is_not(None))
        ):
            heads = sealed.setdefault(cp_id, {})
            if seq > heads.get(case_id, 0):
                heads[case_id] = seq
        cps = list(conn.execute(select(*CHECKPOINT).order_by(TrailCheckpoint.id)))
    _verify_checkpoints(cps, sealed, recomputed, public, since, rep)
    if exported is not None:
        _compare_exported(cps, exported, rep)
    return rep


def _verify_checkpoints(
    cps: list[Any],
    sealed: dict[int, dict[int, int]],
    recomputed: dict[tuple[int, int], str],
    public: Ed25519PublicKey,
    since: datetime | None,
    rep: TrailReport,
) -> None:
    previous = GENESIS
    for cp in cps:
        if since is None or cp.sealed_at >= since:
            rep.checkpoints += 1
            heads = sealed.get(cp.id, {})
            root = merkle_root(
                [leaf(c, s, recomputed.get((c, s), MISSING)) for c, s in sorted(heads.items())]
            )
            digest = checkpoint_digest(
                cp.root, cp.previous, cp.upto_event_id, cp.cases, cp.events, cp.sealed_at
            )
            name = f"checkpoint {cp.id} ({cp.sealed_at:%Y-%m-%d %H:%M} UTC)"
            try:
                public.verify(bytes.fromhex(cp.signature), bytes.fromhex(cp.digest))
            except (InvalidSignature, ValueError):
                rep.problems.append(f"{name}: signature does not verify with the public key")
            if digest != cp.digest:
                rep.problems.append(f"{name}: its fields do not give the signed digest")
            if cp.previous != previous:
                rep.problems.append(f"{name}: not chained to the checkpoint before it")
            if root != cp.root:
                rep.problems.append(f"{name}: the events it sealed no longer give its Merkle root")
        previous = cp.digest


# Keys ------------------------------------------------------------------------------------


def new_key(private_path: Path, public_path: Path) -> str:
    """Write a new Ed25519 key pair (PEM); return the public key's fingerprint."""
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return fingerprint(key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"{path}: not a readable PEM private key ({exc})", field="seal_key_file"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path}: not an Ed25519 key", field="seal_key_file")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
        key: Any = (
            serialization.load_pem_private_key(data, password=None).public_key()
            if b"PRIVATE KEY" in data
            else serialization.load_pem_public_key(data)
        )
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"{path}: not a readable PEM key ({exc})", field="seal_public_key_file"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{path}: not an Ed25519 key", field="seal_public_key_file")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _compare_exported(cps: list[Any], exported: Path, rep: TrailReport) -> None:
    try:
        lines = [json.loads(x) for x in exported.read_text(encoding="utf-8").splitlines() if x]
    except (OSError, ValueError) as exc:
        rep.problems.append(f"{exported}: cannot read the exported checkpoints ({exc})")
        return
    outside = {int(x["id"]): str(x["digest"]) for x in lines}
    for cp in cps:
        if cp.id in outside and outside[cp.id] != cp.digest:
            rep.problems.append(f"checkpoint {cp.id}: differs from the exported copy in {exported}")
    missing = set(outside) - {cp.id for cp in cps}
    if missing:
        rep.problems.append(f"checkpoints {sorted(missing)} exported but missing from the ledger")
