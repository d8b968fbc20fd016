"""Public Open311 reads limited per client address (token bucket), so the citizen feed can
be read but not scraped case by case (docs/api.md, "Enumeration").

Why a rate limit and not unguessable public ids: the case number *is* the service request
id citizens quote to the hotline and staff use everywhere, and GeoReport's own list call
already shows every public request of the last 90 days — what must be bounded is how fast a
stranger can pull them, and what they contain (masked: :mod:`gridgov.domain.privacy`).
The buckets live in the process: with N gateway replicas a client gets N times the rate;
behind a proxy run uvicorn with ``--proxy-headers`` so the client's address is seen.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from fastapi import Request

from gridgov.domain.errors import GridgovError

MAX_CLIENTS = 10_000  # forget the idlest buckets past this many addresses


class RateLimited(GridgovError):
    code = "rate_limited"
    retry_after = 1  # seconds, sent as Retry-After


@dataclass
class Throttle:
    per_minute: int  # 0: off
    burst: int = 60
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, at
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def per(cls, per_minute: int) -> Throttle:
        """Bursts of half a minute's reads, at most 60."""
        return cls(per_minute, burst=max(1, min(60, per_minute // 2)))

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the read may go ahead; else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, seen = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - seen) * rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return (1 - tokens) / rate
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > MAX_CLIENTS:
                for old in sorted(self._buckets, key=lambda k: self._buckets[k][1])[:1000]:
                    del self._buckets[old]
        return 0.0

    def check(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        wait = self.take(client)
        if wait > 0:
            limited = RateLimited(
                f"too many public reads from {client}; retry in {wait:.0f} s", field="client"
            )
            limited.retry_after = max(1, math.ceil(wait))
            raise limited
