"""Refuse oversize request bodies (413) without ever holding more than the limit in memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 256 * 1024  # a case with 4,000 characters and 20 media links is ~20 kB
DRAIN_MAX = 8 * 1024 * 1024  # read and drop up to this much, so the client sees the 413


class BodyLimit:
    """Counts body bytes as they arrive (a lying or missing Content-Length is no way round)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_big = declared.isdigit() and int(declared) > self.limit
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if too_big or seen > self.limit:
                    await self._drain(receive, message, seen)
                    # FastAPI passes HTTPException through body parsing; our handler renders
                    # it in the gateway's or Open311's error format.
                    raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, counting, send)

    @staticmethod
    async def _drain(receive: Receive, message: Message, seen: int) -> None:
        """Answering while the client still uploads makes the server close on unread data,
        and the client sees a connection reset instead of the 413: read the rest first."""
        while message.get("more_body") and seen <= DRAIN_MAX:
            message = await receive()
            seen += len(message.get("body", b""))
