"""Open311 GeoReport v2 endpoints under ``/open311/v2``: services, requests, tokens.

Reads are public, as the spec expects, and show only citizen requests (source ``citizen`` or
``hotline``), never the reporter's contact details; posting needs an ``api_key``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from gridgov import clock
from gridgov.api.deps import Gateway, GatewayDep, authenticate
from gridgov.api.errors import UnsupportedMediaType
from gridgov.api.open311 import mapping
from gridgov.api.open311.render import Fmt, document, single
from gridgov.api.schemas import CaseIn
from gridgov.api.service import stored_key
from gridgov.domain.commands import first_error
from gridgov.domain.errors import InvalidInput, NotFound
from gridgov.domain.lifecycle import EventKind
from gridgov.domain.privacy import public_url
from gridgov.domain.text import moment_problem
from gridgov.ledger.models import Case, CaseEvent

router = APIRouter(prefix="/open311/v2", tags=["open311"])
Jurisdiction = Annotated[str | None, Query(description="accepted and ignored: one jurisdiction")]
MAX_SPAN = timedelta(days=90)
MAX_ROWS = 1000
# Our field names → the GeoReport names a client sent, for error messages.
FIELD_NAMES = {
    "item_code": "service_code",
    "lon": "long",
    "building": "address_string",
    "media": "media_url",
    "media.0": "media_url",
    "idempotency_key": "Idempotency-Key",
}
FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "jurisdiction_id": {"type": "string"},
                        "service_code": {"type": "string"},
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                        "long": {"type": "number", "minimum": -180, "maximum": 180},
                        "address_string": {"type": "string", "maxLength": 120},
                        "address_id": {"type": "string"},
                        "attribute[grid]": {"type": "string"},
                        "attribute[community]": {"type": "string"},
                        "email": {"type": "string"},
                        "device_id": {"type": "string"},
                        "account_id": {"type": "string"},
                        "first_name": {"type": "string"},
                        "last_name": {"type": "string"},
                        "phone": {"type": "string"},
                        "description": {"type": "string", "maxLength": 4000},
                        "media_url": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    }
}


def _throttled(request: Request, gw: GatewayDep) -> None:
    gw.throttle.check(request)


PUBLIC = [Depends(_throttled)]  # keyless reads: limited per client address


def _tz(gw: Gateway) -> ZoneInfo:
    return ZoneInfo(gw.rt.settings.timezone)


def _decimals(gw: Gateway) -> int | None:
    return gw.rt.settings.public_coordinate_decimals


@router.get(
    "/services.{fmt}",
    dependencies=PUBLIC,
    summary="Service list: the citizen-reportable catalogue items",
)
def services(fmt: Fmt, gw: GatewayDep, jurisdiction_id: Jurisdiction = None) -> Response:
    day = clock.now().astimezone(_tz(gw)).date()
    rows = [mapping.service(i) for i in mapping.citizen_services(gw.rt.catalog, day)]
    return document(fmt, "services", "service", rows)


@router.get(
    "/services/{service_code}.{fmt}",
    dependencies=PUBLIC,
    summary="Service definition (extension attributes)",
)
def service_definition(
    service_code: Annotated[str, Path(max_length=32)],
    fmt: Fmt,
    gw: GatewayDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    day = clock.now().astimezone(_tz(gw)).date()
    item = next(
        (i for i in mapping.citizen_services(gw.rt.catalog, day) if i.code == service_code), None
    )
    if item is None:
        raise NotFound(f"service_code {service_code!r} not found", field="service_code")
    return single(fmt, "service_definition", mapping.definition(item))


async def _form(request: Request) -> dict[str, str]:
    """Query string and url-encoded body, the body winning (clients differ in where they put
    the fields). Repeated fields keep the last value."""
    fields = dict(request.query_params)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if body:
        if ctype not in ("application/x-www-form-urlencoded", ""):
            raise UnsupportedMediaType(
                f"post the request as application/x-www-form-urlencoded, not {ctype}",
                field="content-type",
            )
        try:
            text = body.decode("utf-8")
            fields.update(parse_qsl(text, keep_blank_values=False, max_num_fields=60))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"cannot read the form: {exc}", field="body") from exc
    return fields


def _float(fields: dict[str, str], name: str) -> float | None:
    raw = fields.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a number, not {raw[:40]!r}", field=name) from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{name} must be a finite number", field=name)
    return value


def _case_in(data: dict[str, object]) -> CaseIn:
    """Validate as the gateway does; name the field as the Open311 client called it."""
    try:
        return CaseIn.model_validate(data)
    except ValidationError as exc:
        err = first_error(exc)
        ours = err.field or ""
        theirs = FIELD_NAMES.get(ours, ours)
        message = err.message.replace(ours, theirs, 1) if ours else err.message
        raise InvalidInput(message, field=theirs or None) from exc


def _reporter(fields: dict[str, str], fallback: str) -> str:
    name = " ".join(x for x in (fields.get("first_name"), fields.get("last_name")) if x)
    for candidate in (fields.get("phone"), fields.get("email"), name):
        if candidate and candidate.strip():
            return candidate.strip()[:120]
    return fallback


@router.post(
    "/requests.{fmt}",
    summary="Create a service request (form-encoded)",
    openapi_extra=FORM,
    status_code=201,
)
async def post_request(fmt: Fmt, request: Request, gw: GatewayDep) -> Response:
    fields = await _form(request)
    header = request.headers.get("authorization", "")
    token = (
        fields.get("api_key")
        or request.headers.get("x-api-key")
        or (header[7:] if header.lower().startswith("bearer ") else None)
    )
    who = authenticate(gw, token)
    code = fields.get("service_code")
    if not code:
        raise InvalidInput("service_code is required", field="service_code")
    day = clock.now().astimezone(_tz(gw)).date()
    item = next((i for i in mapping.citizen_services(gw.rt.catalog, day) if i.code == code), None)
    if item is None:
        raise InvalidInput(
            f"service_code {code[:40]!r} is not a service here", field="service_code"
        )
    lat, lon = _float(fields, "lat"), _float(fields, "long")
    if (lat is None) != (lon is None):
        raise InvalidInput("give lat and long together", field="lat" if lat is None else "long")
    place = gw.locator.place(
        fields.get("attribute[grid]") or None, fields.get("attribute[community]") or None, lat, lon
    )
    media = fields.get("media_url")
    if media and public_url(media) is None:
        raise InvalidInput("media_url must be an http(s) URL", field="media_url")
    client_key = request.headers.get("idempotency-key") or uuid.uuid4().hex
    body = _case_in(
        {
            "item_code": code,
            "community": place.community,
            "grid": place.grid,
            "building": fields.get("address_string") or None,
            "lat": lat,
            "lon": lon,
            "source": "citizen",
            "reporter": _reporter(fields, who.actor_name),
            "description": fields.get("description", ""),
            "media": [fields["media_url"]] if fields.get("media_url") else [],
            "idempotency_key": client_key,
        }
    )
    created = await gw.service.create(who, body, client_key)
    row = {
        "service_request_id": created.case.case_no,
        "token": f"{who.prefix}.{client_key}",
        "service_notice": mapping.service_notice(item),
        "account_id": None,
    }
    return document(fmt, "service_requests", "request", [row], 200 if created.replayed else 201)


def _when(raw: str | None, name: str, tz: ZoneInfo) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be ISO-8601 (w3c), not {raw[:40]!r}", field=name) from exc
    if reason := moment_problem(moment):
        raise InvalidInput(f"{name}: {reason}", field=name)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The spec's default and cap: the last 90 days, or 90 days from whichever end is given."""
    if start is None:
        end = end or clock.now()
        start = end - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    if end <= start or end - start > MAX_SPAN:
        raise InvalidInput(
            "end_date must be after start_date, at most 90 days later", field="end_date"
        )
    return start, end


@router.get(
    "/requests.{fmt}",
    dependencies=PUBLIC,
    summary="Service requests (90 days or 1000 rows at most)",
)
def get_requests(
    fmt: Fmt,
    gw: GatewayDep,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=400)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    tz = _tz(gw)
    q = select(Case).where(Case.source.in_(mapping.PUBLIC_SOURCES))
    if service_request_id:  # overrides every other filter, per the spec
        ids = [x.strip() for x in service_request_id.split(",") if x.strip()][:MAX_ROWS]
        q = q.where(Case.case_no.in_(ids))
    else:
        start, end = _window(_when(start_date, "start_date", tz), _when(end_date, "end_date", tz))
        q = q.where(Case.opened_at >= start, Case.opened_at <= end)
        if service_code:  # may be a comma list, like status
            q = q.where(Case.item_code.in_([c.strip() for c in service_code.split(",")]))
        if status:
            wanted = {s.strip() for s in status.split(",") if s.strip()}
            if not wanted <= {"open", "closed"}:
                raise InvalidInput("status must be open, closed or open,closed", field="status")
            if wanted == {"open"}:
                q = q.where(Case.status.not_in(("closed", "cancelled")))
            elif wanted == {"closed"}:
                q = q.where(Case.status.in_(("closed", "cancelled")))
    q = q.order_by(Case.opened_at.desc(), Case.id.desc()).limit(MAX_ROWS)
    with gw.rt.book.factory() as s:
        rows = [mapping.request(gw.rt.catalog, c, tz, _decimals(gw)) for c in s.scalars(q)]
    return document(fmt, "service_requests", "request", rows)


@router.get(
    "/requests/{service_request_id}.{fmt}", dependencies=PUBLIC, summary="One service request"
)
def get_request(
    service_request_id: Annotated[str, Path(max_length=40)],
    fmt: Fmt,
    gw: GatewayDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    with gw.rt.book.factory() as s:
        case = s.scalar(
            select(Case).where(
                Case.case_no == service_request_id, Case.source.in_(mapping.PUBLIC_SOURCES)
            )
        )
        if case is None:
            raise NotFound(f"request {service_request_id!r} not found", field="service_request_id")
        row = mapping.request(gw.rt.catalog, case, _tz(gw), _decimals(gw))
    return document(fmt, "service_requests", "request", [row])


@router.get(
    "/tokens/{token}.{fmt}", dependencies=PUBLIC, summary="The service_request_id behind a token"
)
def get_token(
    token: Annotated[str, Path(max_length=160)],
    fmt: Fmt,
    gw: GatewayDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    prefix, _, client_key = token.partition(".")
    with gw.rt.book.factory() as s:
        case_no = s.scalar(
            select(Case.case_no)
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(
                CaseEvent.idempotency_key == stored_key(prefix, client_key),
                CaseEvent.kind == EventKind.CREATED.value,
                Case.source.in_(mapping.PUBLIC_SOURCES),  # as requests/{id}: internal stays
            )
        )
    if case_no is None or not client_key:
        raise NotFound(f"token {token!r} not found", field="token")
    return document(
        fmt, "service_requests", "request", [{"service_request_id": case_no, "token": token}]
    )
