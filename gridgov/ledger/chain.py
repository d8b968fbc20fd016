"""The tamper-evident trail: every event's hash chained per case, sealed by signed checkpoints.

One home for the rule, whatever wrote the event (case book, sweep, bulk intake, import):

* ``event hash = sha256(previous hash of the case ‖ canonical content of the event)``; the
  content is every column of the row (case id, seq, kind, actor, role, department, community,
  at and recorded_at in µs, from/to status, payload as sorted JSON, idempotency key);
* a **checkpoint** seals the events written since the previous one: their hashes go to
  ``event_hashes``, and a Merkle root over the heads of the cases they touched, chained to the
  previous checkpoint's digest, is signed with an Ed25519 key the database writer does not
  hold (a file only the sealing job reads) and appended to an operator-chosen file;
* :func:`verify` recomputes every chain from the events and checks every hash, root, link
  and signature with the public key; it names the first broken event of each case by its case
  number.

Sealing, rather than hashing inside each writer's transaction, is deliberate for now: the
writers share no row specification yet (see docs/audit-trail.md), and one sealing pass gives
every writer the same rule. Events written since the last checkpoint are reported as not yet
sealed. See docs/audit-trail.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, func, insert, select

from gridgov.domain.errors import InvalidInput
from gridgov.ledger.models import Case, CaseEvent
from gridgov.ledger.seal_models import EventHash, TrailCheckpoint

GENESIS = "0" * 64
CHECKPOINT = tuple(TrailCheckpoint.__table__.c)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
COLUMNS = (
    CaseEvent.id,
    CaseEvent.case_id,
    CaseEvent.seq,
    CaseEvent.kind,
    CaseEvent.actor,
    CaseEvent.role,
    CaseEvent.department,
    CaseEvent.community,
    CaseEvent.at,
    CaseEvent.recorded_at,
    CaseEvent.from_status,
    CaseEvent.to_status,
    CaseEvent.payload,
    CaseEvent.idempotency_key,
)


def _us(t: datetime) -> int:
    return (t - EPOCH) // US


def content(row: Any) -> bytes:
    """The canonical bytes of one event row (every column but the surrogate id)."""
    values = [
        row.case_id,
        row.seq,
        row.kind,
        row.actor,
        row.role,
        row.department,
        row.community,
        _us(row.at),
        _us(row.recorded_at),
        row.from_status,
        row.to_status,
        row.payload,
        row.idempotency_key,
    ]
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(previous: str, row: Any) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + content(row)).hexdigest()


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


def _last_hashes(conn: Connection, case_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Per case, (seq, hash) of its last sealed event."""
    out: dict[int, tuple[int, str]] = {}
    for i in range(0, len(case_ids), 500):
        chunk = case_ids[i : i + 500]
        last = (
            select(EventHash.case_id, func.max(EventHash.seq).label("seq"))
            .where(EventHash.case_id.in_(chunk))
            .group_by(EventHash.case_id)
            .subquery()
        )
        rows = conn.execute(
            select(EventHash.case_id, EventHash.seq, EventHash.hash).join(
                last, (last.c.case_id == EventHash.case_id) & (last.c.seq == EventHash.seq)
            )
        )
        out.update({r.case_id: (r.seq, r.hash) for r in rows})
    return out


def seal(
    engine: Engine,
    key: Ed25519PrivateKey,
    *,
    now: datetime | None = None,
    export: Path | None = None,
    note: str = "",
) -> Checkpoint:
    """Hash every event not sealed yet, chained per case, and sign a checkpoint over them."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with engine.begin() as conn:
        last = conn.execute(
            select(*CHECKPOINT).order_by(TrailCheckpoint.id.desc()).limit(1)
        ).first()
        sealed = select(EventHash.event_id).where(EventHash.event_id == CaseEvent.id)
        rows = conn.execute(
            select(*COLUMNS).where(~sealed.exists()).order_by(CaseEvent.case_id, CaseEvent.seq)
        ).all()
        touched = sorted({r.case_id for r in rows})
        heads = _last_hashes(conn, touched)
        first_seal = last is None
        new: list[dict[str, Any]] = []
        for r in rows:
            _, prev = heads.get(r.case_id, (0, GENESIS))
            h = event_hash(prev, r)
            heads[r.case_id] = (r.seq, h)
            new.append({"event_id": r.id, "case_id": r.case_id, "seq": r.seq, "hash": h})
        if new:
            conn.execute(insert(EventHash), new)
        upto = max([r.id for r in rows], default=last.upto_event_id if last else 0)
        root = merkle_root([leaf(c, *heads[c]) for c in touched])
        previous = last.digest if last else GENESIS
        if first_seal and rows:
            note = note or f"first checkpoint: chain computed once for {len(rows)} existing events"
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
    stmt = (
        select(*COLUMNS, Case.case_no, EventHash.hash, EventHash.seq.label("sealed_seq"))
        .join(Case, Case.id == CaseEvent.case_id)
        .outerjoin(EventHash, EventHash.event_id == CaseEvent.id)
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
    # Recomputed hash of each event by id (for the checkpoint roots), per case.
    by_id: dict[int, tuple[int, int, str]] = {}  # event id → (case_id, seq, recomputed hash)
    with engine.connect() as conn:
        prev_case, prev_hash, broken = None, GENESIS, False
        for r in _events(conn):
            if r.case_id != prev_case:
                prev_case, prev_hash, broken = r.case_id, GENESIS, False
                rep.cases += 1
            rep.events += 1
            h = event_hash(prev_hash, r)
            by_id[r.id] = (r.case_id, r.seq, h)
            prev_hash = h
            if r.hash is None:
                rep.unsealed += 1
            elif not broken and (r.hash != h or r.sealed_seq != r.seq):
                broken = True
                rep.problems.append(
                    f"{r.case_no} event {r.seq} ({r.kind}): differs from the sealed trail "
                    "(an event of this case was edited, deleted or inserted at or before it)"
                )
        sealed_ids = {
            row.event_id: (row.case_id, row.seq)
            for row in conn.execute(select(*EventHash.__table__.c))
        }
        for eid, (case_id, seq) in sealed_ids.items():
            if eid not in by_id:
                no = conn.scalar(select(Case.case_no).where(Case.id == case_id)) or case_id
                rep.problems.append(f"{no} event {seq}: sealed, but no longer in the ledger")
        cps = list(conn.execute(select(*CHECKPOINT).order_by(TrailCheckpoint.id)))
    _verify_checkpoints(cps, by_id, public, since, rep)
    if exported is not None:
        _compare_exported(cps, exported, rep)
    return rep


def _verify_checkpoints(
    cps: list[Any],
    by_id: dict[int, tuple[int, int, str]],
    public: Ed25519PublicKey,
    since: datetime | None,
    rep: TrailReport,
) -> None:
    ids = sorted(by_id)
    previous, lo = GENESIS, 0
    for cp in cps:
        in_range = [by_id[i] for i in ids if lo < i <= cp.upto_event_id]
        heads: dict[int, tuple[int, str]] = {}
        for case_id, seq, h in in_range:
            if case_id not in heads or seq > heads[case_id][0]:
                heads[case_id] = (seq, h)
        if since is None or cp.sealed_at >= since:
            rep.checkpoints += 1
            root = merkle_root([leaf(c, *heads[c]) for c in sorted(heads)])
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
        previous, lo = cp.digest, cp.upto_event_id


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
