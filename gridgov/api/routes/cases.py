"""Create, list and read cases, and their trails."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Response

from gridgov.api.access import check_visible
from gridgov.api.deps import GatewayDep, IdemHeader, PrincipalDep
from gridgov.api.queries import CaseFilter, attribute_filter, list_cases
from gridgov.api.schemas import CaseCreated, CaseIn, CaseOut, CasePage, EventOut, Trail
from gridgov.api.service import pick_key
from gridgov.domain.enums import CaseStatus
from gridgov.domain.errors import InvalidInput
from gridgov.domain.text import moment_problem

router = APIRouter(prefix="/v1/cases", tags=["cases"])
CASE_NO = r"^C\d{8}-\d{6,9}$"
CaseNo = Annotated[str, Path(pattern=CASE_NO, description="e.g. C20261123-000123")]
Code = Annotated[str, Query(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", max_length=32)]


def aware(value: datetime | None, tz: str, field: str) -> datetime | None:
    """Naive times in filters are read in the ledger's timezone (Asia/Shanghai by default);
    years far outside the ledger's are refused (converting them could overflow)."""
    if value is not None and (reason := moment_problem(value)):
        raise InvalidInput(f"{field}: {reason}", field=field)
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ZoneInfo(tz))


@router.post(
    "",
    status_code=201,
    response_model=CaseCreated,
    summary="Report a case (上报) and start its item flow",
    responses={
        200: {"description": "replayed: this idempotency key already made the case"},
        202: {"description": "recorded; its run is pending (started by the reconciler)"},
    },
)
async def create_case(
    body: Annotated[CaseIn, Body()],
    gw: GatewayDep,
    who: PrincipalDep,
    response: Response,
    idempotency_key: IdemHeader = None,
) -> CaseCreated:
    key = pick_key(idempotency_key, body.idempotency_key)
    created = await gw.service.create(who, body, key)
    if created.replayed:
        response.status_code = 200
    elif created.run.accepted_only:
        response.status_code = 202
    return created


@router.get("", response_model=CasePage, summary="List the cases this key may see")
def get_cases(
    gw: GatewayDep,
    who: PrincipalDep,
    department: Annotated[Code | None, Query(description="assigned to or assisting")] = None,
    community: Code | None = None,
    street: Code | None = None,
    grid: Code | None = None,
    item: Code | None = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    overdue: bool | None = None,
    opened_from: Annotated[datetime | None, Query(description="inclusive; ISO-8601")] = None,
    opened_to: Annotated[datetime | None, Query(description="exclusive; ISO-8601")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    attr: Annotated[
        list[str] | None,
        Query(
            max_length=300,
            description="NAME=VALUE on an imported case's attributes (repeat: all must match)",
        ),
    ] = None,
) -> CasePage:
    tz = gw.rt.settings.timezone
    flt = CaseFilter(
        department=department,
        community=community,
        street=street,
        grid=grid,
        item=item,
        tier=tier,
        status=tuple(s.value for s in status or ()),
        overdue=overdue,
        opened_from=aware(opened_from, tz, "opened_from"),
        opened_to=aware(opened_to, tz, "opened_to"),
        limit=limit,
        cursor=cursor,
        attributes=tuple(attribute_filter(a) for a in attr or ()),
    )
    rows, nxt = list_cases(gw.rt.book.factory, who, flt)
    return CasePage(items=[CaseOut.of(r) for r in rows], next_cursor=nxt)


@router.get("/{case_no}", response_model=CaseOut, summary="One case")
def get_case(case_no: CaseNo, gw: GatewayDep, who: PrincipalDep) -> CaseOut:
    case = gw.rt.book.get(case_no)
    check_visible(who, case, gw.rt.book.factory)
    return CaseOut.of(case)


@router.get("/{case_no}/trail", response_model=Trail, summary="Everything that happened to it")
def get_trail(case_no: CaseNo, gw: GatewayDep, who: PrincipalDep) -> Trail:
    check_visible(who, gw.rt.book.get(case_no), gw.rt.book.factory)
    return Trail(case_no=case_no, events=[EventOut.of(e) for e in gw.rt.book.trail(case_no)])
