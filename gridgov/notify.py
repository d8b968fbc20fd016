"""Deliver the outbox: every notice was stored with its event; here it is sent by webhook.

One httpx client, retries with backoff on connection errors and 5xx, and the notice's own
idempotency key in the ``Idempotency-Key`` header, so a receiver can drop a repeat that a
crash between sending and marking could cause. Without a webhook, notices are marked
``logged`` (the ledger row is the notice).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.ledger.db import transaction
from gridgov.ledger.models import Notification

MAX_ATTEMPTS = 5


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
    with factory() as s:
        q = select(Notification).where(Notification.status == "pending")
        if case_id is not None:
            q = q.where(Notification.case_id == case_id)
        pending = list(s.scalars(q.order_by(Notification.id).limit(limit)))
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
                    failed += 1
    finally:
        if own:
            http.close()
    return DeliveryReport(sent=sent, failed=failed)
