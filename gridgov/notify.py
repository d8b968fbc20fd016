"""Deliver the outbox: every notice was stored with its event; here it is sent by webhook.

One httpx client, retries with backoff on connection errors and 5xx, and the notice's own
idempotency key in the ``Idempotency-Key`` header, so a receiver can drop a repeat that a
crash between sending and marking could cause. Without a webhook, notices are marked
``logged`` (the ledger row is the notice).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gridgov.ledger.db import transaction
from gridgov.ledger.models import Notification

MAX_ATTEMPTS = 5
CLAIM_LEASE = timedelta(minutes=2)  # longer than a notice's retries take (5 s timeout × 4)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    logged: int = 0
    failed: int = 0


def _post(
    client: httpx.Client, url: str, n: Notification, retries: int, backoff: float
) -> str | None:
    """POST one notice; None on success, else the last error."""
    error = "not attempted"
    for attempt in range(retries + 1):
        try:
            resp = client.post(
                url,
                json={
                    "id": n.id,
                    "kind": n.kind,
                    "recipient": n.recipient,
                    "case_id": n.case_id,
                    "body": n.body,
                },
                headers={"Idempotency-Key": n.idempotency_key},
            )
            if resp.status_code < 400:
                return None
            error = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if resp.status_code < 500:
                return error  # the receiver refuses it: retrying will not help
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    return error


def claim(
    factory: sessionmaker[Session],
    *,
    case_id: int | None = None,
    limit: int = 500,
    lease: timedelta = CLAIM_LEASE,
) -> list[Notification]:
    """Take pending notices for this deliverer: one UPDATE … RETURNING sets their lease, so
    however many deliverers run (item flows, sweeps, several workers) each notice is posted by
    one of them; a deliverer killed mid-post leaves its lease to expire and another retries."""
    now = datetime.now(UTC)
    free = (Notification.status == "pending") & (
        Notification.claimed_until.is_(None) | (Notification.claimed_until < now)
    )
    pick = select(Notification.id).where(free)
    if case_id is not None:
        pick = pick.where(Notification.case_id == case_id)
    # SKIP LOCKED (PostgreSQL): concurrent deliverers take different rows instead of queueing
    # behind each other; SQLite ignores it (its writers are serialised anyway).
    pick = pick.order_by(Notification.id).limit(limit).with_for_update(skip_locked=True)
    with transaction(factory) as s:
        ids = list(
            s.scalars(
                update(Notification)
                .where(Notification.id.in_(pick.scalar_subquery()), free)
                .values(claimed_until=now + lease)
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            )
        )
        rows = list(
            s.scalars(
                select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)
            )
        )
        s.expunge_all()
    return rows


def deliver_pending(
    factory: sessionmaker[Session],
    webhook_url: str | None,
    *,
    case_id: int | None = None,
    retries: int = 3,
    backoff: float = 0.2,
    limit: int = 500,
    client: httpx.Client | None = None,
) -> DeliveryReport:
    pending = claim(factory, case_id=case_id, limit=limit)
    if not pending:
        return DeliveryReport()
    if webhook_url is None:
        with transaction(factory) as s:
            for n in pending:
                row = s.get(Notification, n.id)
                assert row is not None
                row.status, row.sent_at = "logged", datetime.now(UTC)
        return DeliveryReport(logged=len(pending))
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(5.0))
    sent = failed = 0
    try:
        for n in pending:
            error = _post(http, webhook_url, n, retries, backoff)
            with transaction(factory) as s:
                row = s.get(Notification, n.id)
                assert row is not None
                row.attempts += 1
                if error is None:
                    row.status, row.sent_at, row.last_error = "sent", datetime.now(UTC), None
                    sent += 1
                else:
                    row.last_error = error
                    row.status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
                    row.claimed_until = None  # free for the next deliverer's retry
                    failed += 1
    finally:
        if own:
            http.close()
    return DeliveryReport(sent=sent, failed=failed)
