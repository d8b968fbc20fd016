"""One error shape for the whole gateway, from typed errors and from FastAPI's own checks.

The gateway answers ``{"error": {"code", "field", "message"}}``; Open311 paths answer the
GeoReport v2 error list (see :mod:`gridgov.api.open311.render`). The HTTP status follows the
error type, so a client can branch on either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgov.api.edge import parse_json
from gridgov.api.throttle import RateLimited
from gridgov.domain.errors import (
    ConcurrentUpdate,
    GridgovError,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
    UnknownItem,
)

log = logging.getLogger("gridgov.api")


class Unauthorized(GridgovError):
    code = "unauthorized"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"


class LaunchFailed(GridgovError):
    """The ledger has the command, but the flow run could not be started: retry with the
    same idempotency key (the retry replays the record and starts the run again)."""

    code = "launch_failed"


# Most specific first: UnknownItem is a NotFound, but on the gateway it is always a bad code
# in the caller's input (an item code in a body or path), so it is 422 like other bad input.
STATUS: Sequence[tuple[type[GridgovError], int]] = (
    (Unauthorized, 401),
    (NotPermitted, 403),
    (UnknownItem, 422),
    (NotFound, 404),
    (InvalidTransition, 409),
    (IdempotencyConflict, 409),
    (RateLimited, 429),
    (ConcurrentUpdate, 503),
    (LaunchFailed, 503),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (InvalidInput, 422),
)


BODY_UNREADABLE = "There was an error parsing the body"  # FastAPI's words
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def status_of(exc: GridgovError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 400)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "field": field, "message": message}}


def is_open311(request: Request) -> bool:
    return request.url.path.startswith("/open311/")


def _field_of(loc: Sequence[Any]) -> str | None:
    """FastAPI's ``("body", "payload", "rating")`` → ``payload.rating``; headers by name."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, parts = parts[0], parts[1:]
        if where == "header" and parts:
            return "-".join(w.capitalize() for w in parts[0].split("-"))
        if where in ("query", "path"):
            parts = parts[:1]  # a repeated parameter is named, not its n-th value
    return ".".join(parts) or None


def validation_problem(exc: RequestValidationError) -> tuple[str, str | None, str]:
    errors = exc.errors()
    if not errors:
        return "invalid_input", None, "invalid request"
    err = errors[0]
    field = _field_of(err.get("loc", ()))
    if err.get("type") == "json_invalid":
        ctx = err.get("ctx") or {}
        return "malformed_json", "body", f"malformed JSON: {ctx.get('error', err['msg'])}"
    message = f"{field or 'body'}: {err.get('msg', 'invalid')}"
    return "invalid_input", field or "body", message


def install(app: FastAPI, open311_response: Any) -> None:
    """Register the handlers. ``open311_response(request, status, message)`` renders the
    GeoReport error list for Open311 paths (kept there so this module stays format-free)."""

    def respond(
        request: Request,
        status: int,
        code: str,
        message: str,
        field: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        if is_open311(request):
            text = f"{field}: {message}" if field and not message.startswith(field) else message
            resp: Response = open311_response(request, status, text)
        else:
            resp = JSONResponse(error_body(code, message, field), status_code=status)
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    @app.exception_handler(GridgovError)
    async def _domain(request: Request, exc: GridgovError) -> Response:
        status = status_of(exc)
        headers = {"Retry-After": "1"} if status == 503 else None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        if status == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="gridgov"'}
        return respond(request, status, exc.code, exc.message, exc.field, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        code, field, message = validation_problem(exc)
        status = 400 if is_open311(request) else 422
        return respond(request, status, code, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == BODY_UNREADABLE:
            # FastAPI could not read the JSON body (not UTF-8, nested past recursion): say
            # why, as the malformed JSON it is.
            try:
                parse_json(await request.body())
            except GridgovError as bad:
                return await _domain(request, bad)
        code = HTTP_CODES.get(exc.status_code, "http_error")
        field = "body" if exc.status_code == 413 else None
        return respond(request, exc.status_code, code, str(exc.detail), field, exc.headers)

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> Response:
        # SQLite gave up waiting (busy_timeout) for another writer, e.g. a big import: the
        # transaction was rolled back, nothing was written, and a retry will do.
        if "database is locked" in str(exc):
            message = "the ledger is busy with another writer; retry shortly"
            return respond(request, 503, "busy", message, None, {"Retry-After": "5"})
        return unexpected(request, exc)

    def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return respond(request, 500, "internal", "internal error", None)

    app.add_middleware(Contain, render=unexpected)


class Contain:
    """Outermost: a bug answers 500 ``internal`` (logged) and the connection stays usable.

    Starlette's own last-resort handler re-raises after answering, and uvicorn then drops the
    keep-alive connection without ``Connection: close``, so a client's next request on it
    fails; here the error ends with its answer."""

    def __init__(self, app: ASGIApp, render: Callable[[Request, Exception], Response]) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception as exc:
            if started:  # half an answer is out: nothing better than closing
                raise
            await self.render(Request(scope), exc)(scope, receive, send)
