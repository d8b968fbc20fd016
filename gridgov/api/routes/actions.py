"""Answers to a waiting case: one endpoint per step of the loop, each with its own body.

Each is recorded with the key's identity as the actor, checked by the transition table
(409 when the case's state does not allow it, 403 when the role or unit may not), and then
continues the case's flow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from gridgov.api.deps import Gateway, GatewayDep, IdemHeader, PrincipalDep
from gridgov.api.keystore import Principal
from gridgov.api.routes.cases import CaseNo
from gridgov.api.schemas import (
    AckIn,
    ActionOut,
    CompleteIn,
    ExtensionIn,
    GrantIn,
    RateIn,
    ReasonIn,
    RerouteIn,
)
from gridgov.api.service import pick_key
from gridgov.domain.lifecycle import EventKind as K

router = APIRouter(prefix="/v1/cases/{case_no}", tags=["actions"])
Ack = Annotated[AckIn | None, Body()]
Reason = Annotated[ReasonIn, Body()]
CONFLICTS: dict[int | str, dict[str, Any]] = {
    403: {"description": "this key's role or unit may not do this to this case"},
    409: {"description": "not allowed in the case's current state"},
}


async def _act(
    gw: Gateway,
    who: Principal,
    case_no: str,
    kind: K,
    body: BaseModel | None,
    header_key: str | None,
) -> ActionOut:
    body_key = getattr(body, "idempotency_key", None)
    key = pick_key(header_key, body_key)
    payload = (
        body.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
        if body is not None
        else {}
    )
    return await gw.service.act(who, case_no, kind, payload, key)


def route(path: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    return router.post(path, response_model=ActionOut, summary=summary, responses=CONFLICTS)


@route("/acknowledge", "签收 accept: department or community (assignee)")
async def acknowledge(
    case_no: CaseNo, gw: GatewayDep, who: PrincipalDep, body: Ack = None, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.ACKNOWLEDGED, body, key)


@route("/return", "退单 return with a reason: department or community (assignee)")
async def return_case(
    case_no: CaseNo, body: Reason, gw: GatewayDep, who: PrincipalDep, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.RETURNED, body, key)


@route("/extension-request", "申请延期 ask for more time: department or community")
async def request_extension(
    case_no: CaseNo,
    body: Annotated[ExtensionIn, Body()],
    gw: GatewayDep,
    who: PrincipalDep,
    key: IdemHeader = None,
) -> ActionOut:
    return await _act(gw, who, case_no, K.EXTENSION_REQUESTED, body, key)


@route("/arrive", "到场 on site: department or community (assignee)")
async def arrive(
    case_no: CaseNo, gw: GatewayDep, who: PrincipalDep, body: Ack = None, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.ARRIVED, body, key)


@route("/assist", "协办 an assisting department reports its part")
async def assist(
    case_no: CaseNo, gw: GatewayDep, who: PrincipalDep, body: Ack = None, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.ASSISTED, body, key)


@route("/complete", "处置完成 handled, with evidence: department or community (assignee)")
async def complete(
    case_no: CaseNo,
    body: Annotated[CompleteIn, Body()],
    gw: GatewayDep,
    who: PrincipalDep,
    key: IdemHeader = None,
) -> ActionOut:
    return await _act(gw, who, case_no, K.HANDLED, body, key)


@route("/reroute", "改派 send a returned case to another department: dispatcher or community")
async def reroute(
    case_no: CaseNo,
    body: Annotated[RerouteIn, Body()],
    gw: GatewayDep,
    who: PrincipalDep,
    key: IdemHeader = None,
) -> ActionOut:
    return await _act(gw, who, case_no, K.REROUTED, body, key)


@route("/extension-grant", "grant the pending extension: dispatcher or supervisor")
async def grant_extension(
    case_no: CaseNo,
    gw: GatewayDep,
    who: PrincipalDep,
    body: Annotated[GrantIn | None, Body()] = None,
    key: IdemHeader = None,
) -> ActionOut:
    return await _act(gw, who, case_no, K.EXTENSION_GRANTED, body, key)


@route("/extension-refuse", "refuse the pending extension: dispatcher or supervisor")
async def refuse_extension(
    case_no: CaseNo, body: Reason, gw: GatewayDep, who: PrincipalDep, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.EXTENSION_REFUSED, body, key)


@route("/review-pass", "复核通过 the work passes review: reviewer")
async def review_pass(
    case_no: CaseNo, gw: GatewayDep, who: PrincipalDep, body: Ack = None, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.REVIEW_PASSED, body, key)


@route("/review-fail", "复核不通过 back for rework, with a reason: reviewer")
async def review_fail(
    case_no: CaseNo, body: Reason, gw: GatewayDep, who: PrincipalDep, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.REVIEW_FAILED, body, key)


@route("/rate", "回访评价 the reporter's rating: citizen app (its own reports)")
async def rate(
    case_no: CaseNo,
    body: Annotated[RateIn, Body()],
    gw: GatewayDep,
    who: PrincipalDep,
    key: IdemHeader = None,
) -> ActionOut:
    return await _act(gw, who, case_no, K.RATED, body, key)


@route("/cancel", "作废 cancel, with a reason: dispatcher or supervisor")
async def cancel(
    case_no: CaseNo, body: Reason, gw: GatewayDep, who: PrincipalDep, key: IdemHeader = None
) -> ActionOut:
    return await _act(gw, who, case_no, K.CANCELLED, body, key)
