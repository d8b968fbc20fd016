"""The gateway as operators run it (``gridgov api``, a real uvicorn process on 127.0.0.1) with
its Prefect server gone (issue 12): every command is recorded and answered 202 "run pending"
at once, the launch failure is logged and counted, ``/readyz`` names Prefect as the failing
check, and the access log keeps going after the flows (and Prefect's logging setup) load.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest

from gridgov.item_catalog.loader import Catalog
from gridgov.runtime import build_runtime
from gridgov.settings import Settings
from tests.api_support import build_world
from tests.production.harness import Proc, base_env, free_port, wait_for

pytestmark = [pytest.mark.production]


def test_gateway_logs_access_and_launch_failures_with_prefect_gone(
    tmp_path: Path, sqlite_template: Path, catalog: Catalog
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    shutil.copy(sqlite_template, ledger)
    url = f"sqlite:///{ledger}"
    rt = build_runtime(Settings(database_url=url), catalog)
    world = build_world(rt)  # keys in the ledger the gateway reads
    rt.engine.dispose()
    port, nobody = free_port(), free_port()  # nothing listens on ``nobody``
    gateway = Proc(
        "gateway",
        [str(Path(sys.executable).parent / "gridgov"), "api", "--port", str(port)],
        base_env(
            GRIDGOV_DATABASE_URL=url,
            GRIDGOV_HOME=str(tmp_path / "home"),
            GRIDGOV_LAUNCH_MODE="deployment",
            PREFECT_HOME=str(tmp_path / "prefect"),
            PREFECT_API_URL=f"http://127.0.0.1:{nobody}/api",
        ),
        tmp_path / "gateway.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert gateway.alive(), gateway.tail()
            return httpx.get(f"{base}/healthz", timeout=5).status_code == 200

        wait_for("the gateway to answer", up, timeout=120)
        with httpx.Client(base_url=base, timeout=120) as http:
            r = http.post("/v1/cases", json=world.new_case(), headers=world.auth("citizen"))
            assert r.status_code == 202, r.text  # recorded, run pending: not a 503
            case_no = r.json()["case"]["case_no"]
            assert r.json()["run"]["pending"] is True
            health = http.get("/healthz").json()
            assert sum(health["launch_failures"].values()) == 1, health
            ready = http.get("/readyz")
            assert ready.status_code == 503
            prefect = next(c for c in ready.json()["checks"] if c["name"] == "prefect")
            assert not prefect["ok"] and str(nobody) in prefect["detail"]
            assert (
                http.get(f"/v1/cases/{case_no}", headers=world.auth("citizen")).status_code == 200
            )

        def logged() -> str | None:
            text = gateway.log.read_text(errors="replace")
            after = text.split("launch failed for", 1)[-1]
            return text if '"GET /v1/cases/' in after and '"GET /readyz' in after else None

        text = wait_for("access log lines after the launch failure", logged, timeout=30)
        assert f"launch failed for {case_no}" in text
        assert '"POST /v1/cases HTTP/1.1" 202' in text
    finally:
        gateway.kill_group()
