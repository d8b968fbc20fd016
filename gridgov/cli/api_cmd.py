"""``gridgov api``: run the gateway on uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gridgov.cli.common import console, friendly_errors


@friendly_errors
def api(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
    mode: Annotated[
        str | None,
        typer.Option(help="auto | deployment | inline | none (default: GRIDGOV_LAUNCH_MODE)"),
    ] = None,
) -> None:
    """Serve the department API and Open311 (docs at /docs, OpenAPI at /openapi.json)."""
    import uvicorn

    from gridgov.domain.enums import LaunchMode
    from gridgov.domain.errors import InvalidInput
    from gridgov.runtime import default_runtime, reset_runtime

    if mode is not None:
        if mode not in set(LaunchMode):
            modes = ", ".join(m.value for m in LaunchMode)
            raise InvalidInput(f"mode must be one of {modes}", field="--mode")
        os.environ["GRIDGOV_LAUNCH_MODE"] = mode  # read again by each worker process
        reset_runtime()
    rt = default_runtime()
    rt.init_ledger()
    console.print(
        f"gateway on http://{host}:{port} — launch mode {rt.settings.launch_mode}, ledger "
        f"{rt.engine.url.render_as_string(hide_password=True)}"
    )
    uvicorn.run(
        "gridgov.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
