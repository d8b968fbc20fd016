"""What every request needs: the gateway's parts, and who is calling (401 without a key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from gridgov.api.errors import Unauthorized
from gridgov.api.keystore import KeyVerifier, Principal
from gridgov.api.open311.locate import Locator
from gridgov.api.schemas import IdemKey
from gridgov.api.service import CaseService
from gridgov.api.throttle import Throttle
from gridgov.runtime import Runtime

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKeyBearer",
    description="`Authorization: Bearer gg_…` — a key from `gridgov keys create`",
)
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader", description="the same key"
)


@dataclass
class Gateway:
    rt: Runtime
    service: CaseService
    verifier: KeyVerifier
    locator: Locator
    throttle: Throttle


def gateway(request: Request) -> Gateway:
    return cast(Gateway, request.app.state.gateway)


def authenticate(gw: Gateway, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("an API key is required (Authorization: Bearer … or X-API-Key)")
    principal = gw.verifier.verify(token.strip())
    if principal is None:
        raise Unauthorized("the API key is not valid or has been revoked")
    return principal


def principal(
    gw: Annotated[Gateway, Depends(gateway)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    return authenticate(gw, creds.credentials if creds else header_key)


GatewayDep = Annotated[Gateway, Depends(gateway)]
PrincipalDep = Annotated[Principal, Depends(principal)]
IdemHeader = Annotated[
    IdemKey | None,
    Header(
        alias="Idempotency-Key",
        description="Repeat a request with the same key to get its first outcome; "
        "nothing is written twice.",
    ),
]
