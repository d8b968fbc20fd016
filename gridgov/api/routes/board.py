"""The 督办 supervision board, and who the caller is."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gridgov import clock
from gridgov.api.deps import GatewayDep, PrincipalDep
from gridgov.api.queries import CaseFilter, board
from gridgov.api.routes.cases import Code
from gridgov.api.schemas import Board

router = APIRouter(prefix="/v1", tags=["supervision"])


@router.get(
    "/board",
    response_model=Board,
    summary="Overdue and supervised cases, at which step of the ladder",
)
def supervision_board(
    gw: GatewayDep,
    who: PrincipalDep,
    department: Code | None = None,
    community: Code | None = None,
    street: Code | None = None,
    level: Literal["reminded", "supervised", "escalated", "due"] | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Board:
    flt = CaseFilter(
        department=department, community=community, street=street, overdue=overdue, limit=limit
    )
    return board(gw.rt.book.factory, who, clock.now(), flt, level, gw.rt.calendar)


class WhoAmI(BaseModel):
    prefix: str
    role: str
    name: str
    actor: str
    department: str | None
    scope: str | None


@router.get("/whoami", response_model=WhoAmI, tags=["keys"], summary="The key's identity")
def whoami(who: PrincipalDep) -> WhoAmI:
    return WhoAmI(
        prefix=who.prefix,
        role=who.role.value,
        name=who.name,
        actor=who.actor_name,
        department=who.department,
        scope=who.scope,
    )
