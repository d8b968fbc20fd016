"""Tables of the tamper-evident trail: each event's chained hash and the signed checkpoints
(migrations 0008_c_trail_seals and 0011_b_event_hashes_by_seq; see docs/audit-trail.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.ledger.base import Base


class EventHash(Base):
    """sha256(previous hash of the case ‖ canonical content of the event), keyed like the
    event by (case id, seq): every writer stores it in the transaction that writes the event,
    before the database has numbered the row (migration 0011_b_event_hashes_by_seq)."""

    __tablename__ = "event_hashes"
    # Clustered by (case, seq) on SQLite: a writer's look-up of a case's head is one seek.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012
    case_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    # The checkpoint that sealed it (NULL: not sealed yet); a seal claims the NULL ones.
    checkpoint_id: Mapped[int | None] = mapped_column(Integer, index=True)


class TrailCheckpoint(Base):
    """A signed Merkle root over the heads of the cases that changed since the previous
    checkpoint, chained to it; exported to the operator's file as it is made."""

    __tablename__ = "trail_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed_at: Mapped[datetime]
    # The highest event id when sealed (what it sealed: event_hashes.checkpoint_id).
    upto_event_id: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    previous: Mapped[str] = mapped_column(String(64))  # the previous checkpoint's digest
    digest: Mapped[str] = mapped_column(String(64))  # what was signed
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
    note: Mapped[str] = mapped_column(Text, default="")
