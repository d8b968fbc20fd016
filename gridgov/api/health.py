"""``/healthz`` (the process answers) and ``/readyz`` (the system around it works).

Ready means: the ledger answers, Prefect answers (when the launch mode needs it), a 督办 sweep
completed recently, no run is owed much longer than its grace, and no notice waits long to
be sent. Each check reports its value and bound, so an operator sees which one failed
(docs/operations.md).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text

from gridgov.domain.enums import LaunchMode
from gridgov.ledger import holds
from gridgov.ledger.models import Notification
from gridgov.ledger.owed import oldest_age
from gridgov.runtime import Runtime

NOTICE_BOUND = timedelta(minutes=10)  # a notice's retries take seconds; ten minutes is stuck


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _age(d: timedelta | None) -> str:
    return "none" if d is None else f"{d.total_seconds():.0f} s"


def readiness(rt: Runtime, now: datetime, mode: str) -> list[Check]:
    s = rt.settings
    checks: list[Check] = []
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("select 1"))
        checks.append(Check("ledger", True, "answers"))
    except Exception as exc:  # the ledger down is exactly what this reports
        return [Check("ledger", False, f"{type(exc).__name__}: {exc}")]
    checks.append(_prefect(mode))
    sweep_bound = timedelta(seconds=max(3 * s.supervise_every, 180))
    last = holds.last_completed(rt.book.factory, holds.SWEEP)
    since = None if last is None else now - last
    checks.append(
        Check(
            "last_sweep",
            since is not None and since <= sweep_bound,
            f"{_age(since)} ago (bound {_age(sweep_bound)})"
            if since is not None
            else "no sweep has completed: is the scheduler (prefect server) and a worker up?",
        )
    )
    owed_bound = timedelta(seconds=s.owed_run_grace) + sweep_bound
    owed = oldest_age(rt.book.factory, now)
    checks.append(
        Check(
            "oldest_owed_run",
            owed is None or owed <= owed_bound,
            f"{_age(owed)} (bound {_age(owed_bound)})",
        )
    )
    with rt.book.factory() as session:
        oldest = session.scalar(
            select(func.min(Notification.created_at)).where(Notification.status == "pending")
        )
    waiting = None if oldest is None else now - oldest
    checks.append(
        Check(
            "oldest_pending_notice",
            waiting is None or waiting <= NOTICE_BOUND,
            f"{_age(waiting)} (bound {_age(NOTICE_BOUND)})",
        )
    )
    return checks


def _prefect(mode: str) -> Check:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if mode == LaunchMode.NONE:
        return Check("prefect", True, "not needed (launch mode none)")
    if not url:
        ok = mode != LaunchMode.DEPLOYMENT
        return Check("prefect", ok, "no PREFECT_API_URL: runs are owed until a sweep starts them")
    try:
        r = httpx.get(f"{url.rstrip('/')}/health", timeout=2)
        return Check("prefect", r.status_code == 200, f"{url}: HTTP {r.status_code}")
    except httpx.HTTPError as exc:
        return Check("prefect", False, f"{url}: {type(exc).__name__}")


def health(mode: str) -> dict[str, Any]:
    return {
        "status": "ok",
        "launch_mode": mode,
        "launch_failures": _launch_failures(),
    }


def _launch_failures() -> dict[str, int]:
    # The launcher (and its counter) loads with the flows on the first launch; a gateway that
    # never launched has none. Read without importing: importing builds every item flow.
    launch = sys.modules.get("gridgov.flows.launch")
    return dict(getattr(launch, "LAUNCH_FAILURES", {}))


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {
        "status": "ready" if all(c.ok for c in checks) else "not_ready",
        "checks": [asdict(c) for c in checks],
    }


def keep_access_log() -> None:
    """Prefect's logging setup (it runs when the flows load) sets the ``uvicorn`` loggers to
    ``PREFECT_SERVER_LOGGING_LEVEL``: the gateway's access and error logs must stay on."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.disabled = False
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
