"""Intake endpoints: machine-event batches, citizen requests and the dispatcher's queue."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request

from gridgov.api.deps import GatewayDep, PrincipalDep
from gridgov.api.errors import UnsupportedMediaType
from gridgov.api.intake import MAX_EVENTS, IntakeService
from gridgov.api.schemas import AssignIn, CitizenRequestOut, IntakeOut, RejectIn
from gridgov.domain.errors import InvalidInput

router = APIRouter(prefix="/v1/intake", tags=["intake"])
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the request's id in the queue")]
NDJSON = ("application/x-ndjson", "application/jsonl", "application/json-lines")


def _service(gw: GatewayDep) -> IntakeService:
    return IntakeService(gw.service)


def parse_batch(body: bytes, content_type: str) -> list[tuple[int, Any]]:
    """(line, event) pairs from a JSON array (line = position, from 1) or JSON Lines (line =
    the line in the body). A line that is not JSON stays in the batch as the reason, so it is
    refused by its number while the others go on."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the body must be UTF-8", field="body") from exc
    if kind in NDJSON:
        rows: list[tuple[int, Any]] = []
        # Only "\n" ends a line: U+2028 and friends may stand unescaped inside JSON strings.
        for n, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except (ValueError, RecursionError) as exc:
                    rows.append((n, f"not JSON: {_reason(exc)}"))
        return rows
    if kind not in ("application/json", ""):
        raise UnsupportedMediaType(
            f"send application/json (an array) or application/x-ndjson, not {kind}",
            field="content-type",
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not JSON: {_reason(exc)}", field="body") from exc
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        data = data["events"]
    if not isinstance(data, list):
        raise InvalidInput('send a JSON array of events (or {"events": [...]})', field="body")
    return list(enumerate(data, 1))


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at {exc.pos}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:200]  # e.g. an integer with too many digits


@router.post(
    "/events",
    response_model=IntakeOut,
    summary="Post a batch of AI-camera / IoT events (machine or dispatcher keys)",
    description=f"Up to {MAX_EVENTS} events (4 MiB) as a JSON array or JSON Lines; fields as "
    "in docs/intake.md. Each row is validated: refused rows are listed by line and field and "
    "write nothing, the others open cases in bulk (repeats within the window join an open "
    "case). Safe to resend: events already ingested (same source and event_id) are counted "
    "as `already`. 422 when no row was accepted.",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            }
        }
    },
)
async def post_events(
    request: Request,
    gw: GatewayDep,
    who: PrincipalDep,
    window: Annotated[float, Query(ge=1, le=1440, description="dedupe window, minutes")] = 30,
) -> IntakeOut:
    rows = parse_batch(await request.body(), request.headers.get("content-type", ""))
    return await _service(gw).ingest(who, rows, window)


@router.post(
    "/requests",
    response_model=CitizenRequestOut,
    summary="A citizen request in free text (书记在线 / 民意速办): classified and routed",
)
async def post_request(
    body: Annotated[
        dict[str, Any],
        Body(
            description="channel, request_id, reporter, text, "
            "received_at, and qr or community + grid"
        ),
    ],
    gw: GatewayDep,
    who: PrincipalDep,
) -> CitizenRequestOut:
    return await _service(gw).submit(who, body)


@router.get(
    "/requests",
    response_model=list[CitizenRequestOut],
    summary="The dispatcher's queue: requests the classifier was unsure of, oldest first",
)
async def get_queue(gw: GatewayDep, who: PrincipalDep) -> list[CitizenRequestOut]:
    return await _service(gw).queue(who)


@router.post(
    "/requests/{request}/assign",
    response_model=CitizenRequestOut,
    summary="Pick the item of a queued request: its case opens as of the receipt",
)
async def assign(
    request: RequestId, body: Annotated[AssignIn, Body()], gw: GatewayDep, who: PrincipalDep
) -> CitizenRequestOut:
    return await _service(gw).assign(who, request, body.item_code)


@router.post(
    "/requests/{request}/reject",
    response_model=CitizenRequestOut,
    summary="Not a governance matter: the citizen is told why, no case is opened",
)
async def reject(
    request: RequestId, body: Annotated[RejectIn, Body()], gw: GatewayDep, who: PrincipalDep
) -> CitizenRequestOut:
    return await _service(gw).reject(who, request, body.reason)
