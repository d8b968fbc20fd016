"""Answers to a waiting case: one endpoint per step of the loop, each with its own body,
built from one table (``ACTIONS``).

Each is recorded with the key's identity as the actor, checked by the transition table
(409 when the case's state does not allow it, 403 when the role or unit may not), and then
continues the case's flow.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
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


@dataclass(frozen=True)
class Action:
    path: str
    kind: K
    body: type[BaseModel]
    optional: bool  # the body may be left out (no reason or evidence needed)
    summary: str


ACTIONS = (
    Action(
        "/acknowledge",
        K.ACKNOWLEDGED,
        AckIn,
        True,
        "签收 accept: department or community (assignee)",
    ),
    Action(
        "/return",
        K.RETURNED,
        ReasonIn,
        False,
        "退单 return with a reason: department or community (assignee)",
    ),
    Action(
        "/extension-request",
        K.EXTENSION_REQUESTED,
        ExtensionIn,
        False,
        "申请延期 ask for more time: department or community",
    ),
    Action("/arrive", K.ARRIVED, AckIn, True, "到场 on site: department or community (assignee)"),
    Action("/assist", K.ASSISTED, AckIn, True, "协办 an assisting department reports its part"),
    Action(
        "/complete",
        K.HANDLED,
        CompleteIn,
        False,
        "处置完成 handled, with evidence: department or community (assignee)",
    ),
    Action(
        "/reroute",
        K.REROUTED,
        RerouteIn,
        False,
        "改派 send a returned case to another department: dispatcher or community",
    ),
    Action(
        "/extension-grant",
        K.EXTENSION_GRANTED,
        GrantIn,
        True,
        "grant the pending extension: dispatcher or supervisor",
    ),
    Action(
        "/extension-refuse",
        K.EXTENSION_REFUSED,
        ReasonIn,
        False,
        "refuse the pending extension: dispatcher or supervisor",
    ),
    Action(
        "/review-pass", K.REVIEW_PASSED, AckIn, True, "复核通过 the work passes review: reviewer"
    ),
    Action(
        "/review-fail",
        K.REVIEW_FAILED,
        ReasonIn,
        False,
        "复核不通过 back for rework, with a reason: reviewer",
    ),
    Action(
        "/rate",
        K.RATED,
        RateIn,
        False,
        "回访评价 the reporter's rating: citizen app (its own reports)",
    ),
    Action(
        "/cancel",
        K.CANCELLED,
        ReasonIn,
        False,
        "作废 cancel, with a reason: dispatcher or supervisor",
    ),
)


def endpoint(action: Action) -> Callable[..., Awaitable[ActionOut]]:
    """One handler per action, with the action's body model in its signature (FastAPI reads
    the signature for validation and the OpenAPI document)."""

    async def handle(
        case_no: str,
        gw: Gateway,
        who: Principal,
        body: BaseModel | None,
        key: str | None,
        response: Response,
    ) -> ActionOut:
        done = await _act(gw, who, case_no, action.kind, body, key)
        if done.run.accepted_only:  # recorded; its run is owed and will be started
            response.status_code = 202
        return done

    body: Any = action.body | None if action.optional else action.body
    param = partial(inspect.Parameter, kind=inspect.Parameter.KEYWORD_ONLY)
    handle.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            param("case_no", annotation=CaseNo),
            param("gw", annotation=GatewayDep),
            param("who", annotation=PrincipalDep),
            param(
                "body",
                annotation=Annotated[body, Body()],
                default=None if action.optional else inspect.Parameter.empty,
            ),
            param("key", annotation=IdemHeader, default=None),
            param("response", annotation=Response),
        ],
        return_annotation=ActionOut,
    )
    handle.__name__ = action.kind.value
    return handle


for _action in ACTIONS:
    router.post(
        _action.path,
        response_model=ActionOut,
        summary=_action.summary,
        responses=CONFLICTS,
        name=_action.path.strip("/").replace("-", "_"),
    )(endpoint(_action))
