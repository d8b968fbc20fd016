"""Tables of the tamper-evident trail: each event's chained hash and the signed checkpoints
(migration 0008_c_trail_seals; see docs/audit-trail.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.ledger.base import Base


class EventHash(Base):
    """sha256(previous hash of the case ‖ canonical content of the event); append-only."""

    __tablename__ = "event_hashes"
    event_id: Mapped[int] = mapped_column(ForeignKey("case_events.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class TrailCheckpoint(Base):
    """A signed Merkle root over the heads of the cases that changed since the previous
    checkpoint, chained to it; exported to the operator's file as it is made."""

    __tablename__ = "trail_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed_at: Mapped[datetime]
    upto_event_id: Mapped[int] = mapped_column(Integer)  # every event with id ≤ this is sealed
    cases: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    previous: Mapped[str] = mapped_column(String(64))  # the previous checkpoint's digest
    digest: Mapped[str] = mapped_column(String(64))  # what was signed
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
    note: Mapped[str] = mapped_column(Text, default="")
