"""httpx clients for the gateway: :class:`GatewayClient` (sync) and :class:`AsyncGatewayClient`.

* Errors come back typed: the API's ``{"error": {"code", "field", "message"}}`` becomes a
  :class:`GatewayError` that is also the matching domain error (``except InvalidTransition``
  works the same against the gateway as against the case book).
* Connection errors, timeouts and 5xx answers are retried with exponential backoff (honouring
  ``Retry-After``). Every write carries an idempotency key, generated once per call when the
  caller gives none and sent again on each retry, so a retried create never makes two cases.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel

from gridgov.api.schemas import (
    ActionOut,
    Board,
    CaseCreated,
    CaseIn,
    CaseOut,
    CasePage,
    CitizenRequestOut,
    IntakeOut,
    Trail,
)
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

T = TypeVar("T")
Action = Literal[
    "acknowledge",
    "return",
    "extension-request",
    "arrive",
    "assist",
    "complete",
    "reroute",
    "extension-grant",
    "extension-refuse",
    "review-pass",
    "review-fail",
    "rate",
    "cancel",
]
RETRY_STATUSES = frozenset({500, 502, 503, 504})


# ---------------------------------------------------------------------------- errors
class GatewayError(GridgovError):
    """An error answer from the gateway (or no answer at all: status 0)."""

    def __init__(self, message: str, *, field: str | None, status: int, code: str) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code


class AuthenticationError(GatewayError):
    """401: no key, or a revoked or unknown one."""


class PermissionDenied(GatewayError, NotPermitted):
    pass


class CaseNotFound(GatewayError, NotFound):
    pass


class UnknownItemError(GatewayError, UnknownItem):
    pass


class BadRequest(GatewayError, InvalidInput):
    pass


class TransitionRefused(GatewayError, InvalidTransition):
    pass


class KeyConflict(GatewayError, IdempotencyConflict):
    pass


class Busy(GatewayError, ConcurrentUpdate):
    pass


class ServerError(GatewayError):
    """5xx after the retries ran out (``launch_failed``: recorded, run not started)."""


class GatewayUnavailable(GatewayError):
    """No answer after the retries ran out (connection refused, timeouts)."""


BY_CODE: dict[str, type[GatewayError]] = {
    "unauthorized": AuthenticationError,
    "not_permitted": PermissionDenied,
    "not_found": CaseNotFound,
    "unknown_item": UnknownItemError,
    "invalid_transition": TransitionRefused,
    "idempotency_conflict": KeyConflict,
    "concurrent_update": Busy,
    "busy": Busy,
}


def error_from(resp: httpx.Response) -> GatewayError:
    try:
        err = resp.json()["error"]
        code, message, fld = str(err["code"]), str(err["message"]), err.get("field")
    except (ValueError, KeyError, TypeError):
        code, message, fld = "http_error", resp.text[:500] or resp.reason_phrase, None
    cls = BY_CODE.get(code)
    if cls is None:
        cls = ServerError if resp.status_code >= 500 else BadRequest
    return cls(message, field=fld, status=resp.status_code, code=code)


# ---------------------------------------------------------------------------- calls
@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, built once: its retries resend exactly this (same idempotency key)."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def _write_headers(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key or uuid.uuid4().hex}


def _body(data: BaseModel | Mapping[str, Any] | None) -> Any:
    if data is None:
        return None
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", exclude_none=True)
    return dict(data)


def _params(filters: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in filters.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = str(v).lower()
        elif hasattr(v, "isoformat"):
            v = v.isoformat()
        out[k] = v
    return out


def create_call(case: CaseIn | Mapping[str, Any], key: str | None) -> Call[CaseCreated]:
    return Call(
        "POST", "/v1/cases", CaseCreated.model_validate, _body(case), None, _write_headers(key)
    )


def act_call(
    case_no: str, action: Action, body: BaseModel | Mapping[str, Any] | None, key: str | None
) -> Call[ActionOut]:
    return Call(
        "POST",
        f"/v1/cases/{case_no}/{action}",
        ActionOut.model_validate,
        _body(body),
        None,
        _write_headers(key),
    )


def get_call(case_no: str) -> Call[CaseOut]:
    return Call("GET", f"/v1/cases/{case_no}", CaseOut.model_validate)


def list_call(filters: Mapping[str, Any]) -> Call[CasePage]:
    return Call("GET", "/v1/cases", CasePage.model_validate, params=_params(filters))


def trail_call(case_no: str) -> Call[Trail]:
    return Call("GET", f"/v1/cases/{case_no}/trail", Trail.model_validate)


def board_call(filters: Mapping[str, Any]) -> Call[Board]:
    return Call("GET", "/v1/board", Board.model_validate, params=_params(filters))


def events_call(events: Sequence[Mapping[str, Any]], window: float | None) -> Call[IntakeOut]:
    """Safe to resend: events already ingested (same source and event_id) are skipped."""
    params = {"window": window} if window is not None else None
    return Call("POST", "/v1/intake/events", IntakeOut.model_validate, list(events), params)


def request_call(request: Mapping[str, Any]) -> Call[CitizenRequestOut]:
    """Safe to resend: a request id already seen (per key) returns its first outcome."""
    return Call("POST", "/v1/intake/requests", CitizenRequestOut.model_validate, dict(request))


def _requests(data: Any) -> list[CitizenRequestOut]:
    return [CitizenRequestOut.model_validate(x) for x in data]


def queue_call() -> Call[list[CitizenRequestOut]]:
    return Call("GET", "/v1/intake/requests", _requests)


def decide_call(
    request: int, verb: Literal["assign", "reject"], body: Mapping[str, Any]
) -> Call[CitizenRequestOut]:
    """A decision on a queued request; once made, a repeat answers 409 (not queued)."""
    path = f"/v1/intake/requests/{request}/{verb}"
    return Call("POST", path, CitizenRequestOut.model_validate, dict(body))


# ---------------------------------------------------------------------------- clients
@dataclass
class RetryPolicy:
    retries: int = 3
    backoff: float = 0.2  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 5.0

    def delay(self, attempt: int, resp: httpx.Response | None) -> float:
        after = resp.headers.get("Retry-After") if resp is not None else None
        if after is not None and after.isdigit():
            return min(float(after), self.max_backoff)
        base = min(self.backoff * 2.0**attempt, self.max_backoff)
        return float(base * (0.5 + random.random() / 2))


def _auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}


class _Base:
    def __init__(self, retry: RetryPolicy | None) -> None:
        self.retry = retry or RetryPolicy()

    def _outcome(self, call: Call[T], resp: httpx.Response) -> T:
        if resp.is_success:
            return call.parse(resp.json())
        raise error_from(resp)

    def _retryable(self, resp: httpx.Response) -> bool:
        return resp.status_code in RETRY_STATUSES

    @staticmethod
    def _gave_up(exc: httpx.TransportError) -> GatewayUnavailable:
        return GatewayUnavailable(
            f"no answer from the gateway: {type(exc).__name__}: {exc}",
            field=None,
            status=0,
            code="unavailable",
        )


class GatewayClient(_Base):
    """Blocking client. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(retry)
        self.http = httpx.Client(
            base_url=base_url, headers=_auth(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def run(self, call: Call[T]) -> T:
        for attempt in range(self.retry.retries + 1):
            last = attempt == self.retry.retries
            try:
                resp = self.http.request(
                    call.method, call.path, json=call.json, params=call.params,
                    headers=call.headers,
                )  # fmt: skip
            except httpx.TransportError as exc:
                if last:
                    raise self._gave_up(exc) from exc
                time.sleep(self.retry.delay(attempt, None))
                continue
            if self._retryable(resp) and not last:
                time.sleep(self.retry.delay(attempt, resp))
                continue
            return self._outcome(call, resp)
        raise AssertionError("unreachable")

    def create_case(
        self, case: CaseIn | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> CaseCreated:
        return self.run(create_call(case, idempotency_key))

    def act(
        self,
        case_no: str,
        action: Action,
        body: BaseModel | Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ActionOut:
        return self.run(act_call(case_no, action, body, idempotency_key))

    def get_case(self, case_no: str) -> CaseOut:
        return self.run(get_call(case_no))

    def trail(self, case_no: str) -> Trail:
        return self.run(trail_call(case_no))

    def list_cases(self, **filters: Any) -> CasePage:
        return self.run(list_call(filters))

    def iter_cases(self, **filters: Any) -> Iterator[CaseOut]:
        """Every matching case, page by page."""
        while True:
            page = self.list_cases(**filters)
            yield from page.items
            if page.next_cursor is None:
                return
            filters = {**filters, "cursor": page.next_cursor}

    def board(self, **filters: Any) -> Board:
        return self.run(board_call(filters))

    def post_events(
        self, events: Sequence[Mapping[str, Any]], *, window: float | None = None
    ) -> IntakeOut:
        return self.run(events_call(events, window))

    def submit_request(self, request: Mapping[str, Any]) -> CitizenRequestOut:
        return self.run(request_call(request))

    def request_queue(self) -> list[CitizenRequestOut]:
        return self.run(queue_call())

    def assign_request(self, request: int, item_code: str) -> CitizenRequestOut:
        return self.run(decide_call(request, "assign", {"item_code": item_code}))

    def reject_request(self, request: int, reason: str) -> CitizenRequestOut:
        return self.run(decide_call(request, "reject", {"reason": reason}))


class AsyncGatewayClient(_Base):
    """The same calls for asyncio. Use as an async context manager, or call :meth:`aclose`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(retry)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=_auth(api_key),
            timeout=timeout,
            transport=transport,
            limits=limits or httpx.Limits(max_connections=100),
        )

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def run(self, call: Call[T]) -> T:
        for attempt in range(self.retry.retries + 1):
            last = attempt == self.retry.retries
            try:
                resp = await self.http.request(
                    call.method, call.path, json=call.json, params=call.params,
                    headers=call.headers,
                )  # fmt: skip
            except httpx.TransportError as exc:
                if last:
                    raise self._gave_up(exc) from exc
                await asyncio.sleep(self.retry.delay(attempt, None))
                continue
            if self._retryable(resp) and not last:
                await asyncio.sleep(self.retry.delay(attempt, resp))
                continue
            return self._outcome(call, resp)
        raise AssertionError("unreachable")

    async def create_case(
        self, case: CaseIn | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> CaseCreated:
        return await self.run(create_call(case, idempotency_key))

    async def act(
        self,
        case_no: str,
        action: Action,
        body: BaseModel | Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ActionOut:
        return await self.run(act_call(case_no, action, body, idempotency_key))

    async def get_case(self, case_no: str) -> CaseOut:
        return await self.run(get_call(case_no))

    async def trail(self, case_no: str) -> Trail:
        return await self.run(trail_call(case_no))

    async def list_cases(self, **filters: Any) -> CasePage:
        return await self.run(list_call(filters))

    async def iter_cases(self, **filters: Any) -> AsyncIterator[CaseOut]:
        while True:
            page = await self.list_cases(**filters)
            for case in page.items:
                yield case
            if page.next_cursor is None:
                return
            filters = {**filters, "cursor": page.next_cursor}

    async def board(self, **filters: Any) -> Board:
        return await self.run(board_call(filters))

    async def post_events(
        self, events: Sequence[Mapping[str, Any]], *, window: float | None = None
    ) -> IntakeOut:
        return await self.run(events_call(events, window))

    async def submit_request(self, request: Mapping[str, Any]) -> CitizenRequestOut:
        return await self.run(request_call(request))

    async def request_queue(self) -> list[CitizenRequestOut]:
        return await self.run(queue_call())

    async def assign_request(self, request: int, item_code: str) -> CitizenRequestOut:
        return await self.run(decide_call(request, "assign", {"item_code": item_code}))

    async def reject_request(self, request: int, reason: str) -> CitizenRequestOut:
        return await self.run(decide_call(request, "reject", {"reason": reason}))
