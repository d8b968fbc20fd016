"""A district supervisor's view, checked in headless Chromium (Debian's ``chromium``).

A real ``prefect server`` (own PREFECT_HOME, free port: the test harness serves no UI) and
the gateway on uvicorn. After a re-route, a run through a deployment and a sweep:

* the ``board-district`` artifact page shows the overdue case, in Chinese;
* the Runs page's tag filter on ``holder:<new department>`` finds the re-routed case;
* the deployment's page lists its run (plain Completed: not hidden by the default filter);
* the gateway's ``/board`` page, after the login form, shows the overdue case.

Screenshots go to ``test-artifacts/browser/`` (gitignored; the path is printed). Waits poll
with generous deadlines: nothing here measures speed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridgov.domain.enums import Role, Tier
from gridgov.domain.lifecycle import Actor, EventKind
from tests.conftest import at

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "browser"
WAIT_MS = 90_000

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian chromium is not installed (.ci/run installs it: "
        "apt-get install chromium fonts-wqy-zenhei)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prefect_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``prefect server start`` with the UI, on a free port; killed with its process group."""
    home = tmp_path_factory.mktemp("prefect-ui-home")
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"prefect server did not start: see {home}/server.log")
            time.sleep(0.5)
        yield base
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


@pytest.fixture
def browser_rt(
    prefect_ui: str, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from gridgov.runtime import default_runtime, reset_runtime

    db = tmp_path / "ledger.sqlite3"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("GRIDGOV_SPOT_CHECK_SHARE", "0")
    reset_runtime()
    with temporary_settings(
        updates={PREFECT_API_URL: f"{prefect_ui}/api", PREFECT_UI_URL: prefect_ui}
    ):
        yield default_runtime()
    default_runtime().engine.dispose()
    reset_runtime()


def _answer(kind: EventKind, key: str, role: str, **unit_and_payload: Any) -> Any:
    from gridgov.domain.commands import Answer

    payload = unit_and_payload.pop("payload", {})
    return Answer(
        kind=kind, role=role, actor=f"{role}-1", key=key, payload=payload, **unit_and_payload
    )


async def test_supervisor_finds_overdue_cases_in_prefect_ui_and_board_page(
    prefect_ui: str, browser_rt: Any
) -> None:
    from playwright.async_api import async_playwright
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from gridgov.api.app import create_app
    from gridgov.api.keystore import create_key
    from gridgov.flows.items import item_flow
    from gridgov.flows.launch import Launcher
    from gridgov.flows.supervision import supervise
    from tests.api_support import serve
    from tests.test_flows import item, new

    rt = browser_rt
    it = item(rt, Tier.DEPARTMENT)
    lead = it.lead_department
    other = next(d for d in sorted(rt.catalog.departments) if d not in (lead, "COMMUNITY"))
    patroller = Actor(Role.PATROLLER, "grid-worker-7")
    launcher = Launcher(rt)
    moved, _ = await launcher.report(new(rt, it), patroller, at(2026, 11, 23, 9), "moved")
    waiting, _ = await launcher.report(new(rt, it), patroller, at(2026, 11, 23, 9, 5), "left")
    no = moved.case_no
    await launcher.answer(
        no,
        _answer(
            EventKind.RETURNED,
            "ret",
            "department",
            department=lead,
            payload={"reason": "不属于本部门"},
        ),
        at(2026, 11, 23, 9, 30),
    )
    await launcher.answer(
        no,
        _answer(
            EventKind.REROUTED, "rr", "dispatcher", payload={"department": other, "reason": "改派"}
        ),
        at(2026, 11, 23, 9, 40),
    )
    # The new holder acknowledges through the item's deployment (Prefect's REST path).
    flow = item_flow(it.code)
    dep_id = await (await flow.ato_deployment("gridgov")).apply()  # type: ignore[misc]
    ack = _answer(EventKind.ACKNOWLEDGED, "ack", "department", department=other)
    async with get_client() as client:
        fr = await client.create_flow_run_from_deployment(
            dep_id,
            parameters={
                "case_no": no,
                "answer": ack.model_dump(mode="json"),
                "at": at(2026, 11, 23, 9, 50).isoformat(),
            },
        )
        state = await run_flow(flow, flow_run=fr, return_type="state")  # type: ignore[misc]
    assert state.is_completed() and state.name == "Completed"
    later = at(2026, 11, 30, 9)
    await supervise(later)
    assert rt.book.get(waiting.case_no).supervision_level == "escalated"
    key, _ = create_key(rt.book.factory, rt.catalog, Role.SUPERVISOR, "区督查室")

    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {SHOTS}")
    with serve(create_app(None, "none")) as gateway:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            try:
                # 1. The district board artifact shows the overdue case, in Chinese.
                # The key's page lists its versions, newest first: open the newest.
                await page.goto(f"{prefect_ui}/artifacts/key/board-district")
                await page.locator("a[href*='/artifacts/artifact/']").first.click()
                await page.get_by_text(waiting.case_no).first.wait_for()
                await page.get_by_text("升级").first.wait_for()
                await page.screenshot(path=str(SHOTS / "1-board-artifact.png"), full_page=True)

                # 2. The Runs page's tag filter on the new holder finds the re-routed case.
                await page.goto(f"{prefect_ui}/runs")
                await page.get_by_text(no).first.wait_for()
                tags_button = page.locator(".flow-run-tags-input button").first
                await tags_button.focus()
                await page.keyboard.press("Space")
                box = page.get_by_placeholder("Search or enter new tag")
                await box.fill(f"holder:{other}")
                await page.get_by_role("option", name=f"holder:{other}").first.click()
                await page.keyboard.press("Escape")
                await page.wait_for_url(f"**tag=holder:{other}*")
                deadline = time.monotonic() + WAIT_MS / 1000
                rows = page.locator(".state-list-item")
                while await rows.filter(has_text=waiting.case_no).count() > 0:
                    assert time.monotonic() < deadline, "the tag filter kept the other case"
                    await page.wait_for_timeout(500)
                await rows.filter(has_text=no).first.wait_for()
                await page.locator("h1, .page-heading, body").first.click(position={"x": 5, "y": 5})
                await page.screenshot(path=str(SHOTS / "2-runs-holder-tag.png"), full_page=True)

                # 3. The deployment's page lists its run (plain Completed is not filtered out).
                await page.goto(f"{prefect_ui}/deployments/deployment/{dep_id}?tab=Runs")
                await page.get_by_text(f"{no} · {it.name_zh} · acknowledged").first.wait_for()
                await page.screenshot(path=str(SHOTS / "3-deployment-runs.png"), full_page=True)

                # 4. The gateway's board page, after the login form.
                await page.goto(f"{gateway}/board")
                await page.fill("#key", key)
                await page.click("button[type=submit]")
                await page.locator("#board").get_by_text(waiting.case_no).wait_for()
                body = await page.inner_text("body")
                assert "北京时间 UTC+8" in body and it.name_zh in body and "升级" in body
                await page.screenshot(path=str(SHOTS / "4-board-page.png"), full_page=True)
                cookies = await page.context.cookies()
                board_cookie = next(c for c in cookies if c["name"] == "gg_board")
                assert board_cookie["httpOnly"] and board_cookie["sameSite"] == "Strict"
            except BaseException:
                await page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
                print(f"failed at {page.url}; screenshot {SHOTS / 'failure.png'}")
                raise
            finally:
                await browser.close()
