"""Refuse oversize request bodies (413) without ever holding more than the limit in memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 256 * 1024  # a case with 4,000 characters and 20 media links is ~20 kB
# Event batches from camera/sensor platforms: 5,000 events of ~600 bytes.
MAX_BATCH_BODY = 4 * 1024 * 1024
BATCH_PATHS = ("/v1/intake/events",)
DRAIN_MAX = 8 * 1024 * 1024  # read and drop up to this much, so the client sees the 413


class BodyLimit:
    """Counts body bytes as they arrive (a lying or missing Content-Length is no way round)."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY, batch_limit: int = MAX_BATCH_BODY
    ) -> None:
        self.app = app
        self.default = limit
        self.batch_limit = batch_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        batch = scope.get("path", "") in BATCH_PATHS
        limit = self.batch_limit if batch else self.default
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_big = declared.isdigit() and int(declared) > limit
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if too_big or seen > limit:
                    await self._drain(receive, message, seen)
                    # FastAPI passes HTTPException through body parsing; our handler renders
                    # it in the gateway's or Open311's error format.
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counting, send)

    @staticmethod
    async def _drain(receive: Receive, message: Message, seen: int) -> None:
        """Answering while the client still uploads makes the server close on unread data,
        and the client sees a connection reset instead of the 413: read the rest first."""
        while message.get("more_body") and seen <= DRAIN_MAX:
            message = await receive()
            seen += len(message.get("body", b""))
