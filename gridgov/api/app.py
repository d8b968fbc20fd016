"""The gateway application: ``create_app()`` for tests and embedding, ``app_from_env`` for
``uvicorn --factory`` / ``gridgov api``."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Response

from gridgov import clock
from gridgov.api import errors, health
from gridgov.api.deps import Gateway
from gridgov.api.edge import check_request
from gridgov.api.keystore import KeyVerifier
from gridgov.api.limits import BodyLimit
from gridgov.api.open311.locate import Locator
from gridgov.api.open311.render import error_response
from gridgov.api.open311.routes import router as open311_router
from gridgov.api.routes.actions import router as actions_router
from gridgov.api.routes.board import router as board_router
from gridgov.api.routes.board_page import router as board_page_router
from gridgov.api.routes.cases import router as cases_router
from gridgov.api.routes.intake import router as intake_router
from gridgov.api.service import CaseService
from gridgov.api.throttle import Throttle
from gridgov.domain.enums import LaunchMode
from gridgov.domain.errors import InvalidInput
from gridgov.runtime import Runtime

DESCRIPTION = """
Departments, communities, dispatchers, reviewers, supervisors and auditors start and answer
grid-governance cases here; citizen apps use Open311 GeoReport v2 under `/open311/v2`.

* **Auth**: `Authorization: Bearer gg_…` (or `X-API-Key`), a key from `gridgov keys create`,
  bound to one role and, for departments and communities, one unit. 401 without a valid key,
  403 when the key may not see or do it.
* **Idempotency**: every write takes an `Idempotency-Key` header (or `idempotency_key` field);
  a repeat returns the first outcome (200 instead of 201 on create) and writes nothing.
* **Errors**: `{"error": {"code", "field", "message"}}` — 422 bad input (also an unknown item
  code), 404 no such case, 409 not allowed in the case's state or key reused, 403 not
  permitted, 413 body too large, 503 retry (concurrent update, flow start failed).
"""


def create_app(
    rt: Runtime | None = None, mode: LaunchMode | str | None = None, *, key_ttl: float = 5.0
) -> FastAPI:
    """The gateway over ``rt`` (default: the process runtime from ``GRIDGOV_*``).

    ``mode``: ``deployment`` (schedule the item deployment's run), ``inline`` (run the flow
    in this process) or ``none`` (record only); default ``GRIDGOV_LAUNCH_MODE``.
    """
    from gridgov.runtime import default_runtime

    rt = rt or default_runtime()
    mode = mode or rt.settings.launch_mode
    if mode == LaunchMode.INLINE and rt is not default_runtime():
        # The flows read the process-wide runtime; a second one would split the ledger.
        raise InvalidInput("inline mode runs on the process runtime: pass rt=None", field="rt")
    app = FastAPI(
        title="gridgov gateway",
        version="1",
        description=DESCRIPTION,
        dependencies=[Depends(check_request)],
        openapi_tags=[
            {"name": "cases", "description": "report, list and read cases"},
            {"name": "actions", "description": "answer a waiting case"},
            {"name": "supervision", "description": "督办 board"},
            {
                "name": "intake",
                "description": "machine-event batches, citizen requests, the dispatcher's queue",
            },
            {"name": "open311", "description": "GeoReport v2 for citizen apps"},
        ],
    )
    app.state.gateway = Gateway(
        rt=rt,
        service=CaseService(rt, mode),
        verifier=KeyVerifier(rt.book.factory, ttl=key_ttl),
        locator=Locator(rt.catalog),
        throttle=Throttle.per(rt.settings.public_reads_per_minute),
    )
    app.add_middleware(BodyLimit)
    errors.install(app, error_response)  # last: its Contain wraps everything
    for router in (
        cases_router,
        actions_router,
        board_router,
        board_page_router,
        intake_router,
        open311_router,
    ):
        app.include_router(router)

    @app.get(
        "/healthz",
        tags=["ops"],
        summary="Liveness, launch mode, launch failures and holiday-data coverage (no key)",
    )
    def healthz() -> dict[str, Any]:
        # Still alive without next year's holidays, but say so: deadlines are provisional.
        missing = rt.calendar.missing_ahead(clock.now())
        holidays = "missing " + ", ".join(map(str, missing)) if missing else "ok"
        return health.health(str(mode)) | {"holiday_data": holidays}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Ledger, Prefect, last sweep, oldest owed run, oldest pending notice",
        responses={503: {"description": "a check is out of bounds (see checks)"}},
    )
    def readyz(response: Response) -> dict[str, Any]:
        checks = health.readiness(rt, clock.now(), str(mode))
        if not all(c.ok for c in checks):
            response.status_code = 503
        return health.as_json(checks)

    return app


def app_from_env() -> FastAPI:
    return create_app()
