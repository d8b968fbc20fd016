"""A district supervisor's view, checked in headless Chromium (Debian's ``chromium``).

The production harness's real ``prefect server`` (``tests/production/harness.py``, here with
its UI) and the gateway on uvicorn. After a re-route, a run through a deployment and a sweep,
in Prefect 3.8.8's default UI (``/v2``):

* two clicks from the sidebar — *Flows*, then the *Last run* of ``board-督办看板`` — show the
  board index and the district's most urgent cases (the overdue one among them); its link
  opens the ``board-district`` version, which shows the overdue case in Chinese;
* the Runs page's tag filter on ``holder:<new department>`` finds the re-routed case;
* the deployment's page lists its run (plain Completed: not hidden by the default filter);
* the gateway's ``/board`` page, after the login form, shows the overdue case.

Screenshots go to ``test-artifacts/browser/`` (gitignored; the path is printed). Waits poll
with generous deadlines: nothing here measures speed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridgov.domain.enums import Role, Tier
from gridgov.domain.lifecycle import Actor, EventKind
from tests.conftest import at
from tests.production.harness import PrefectServer, prefect_server

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


@pytest.fixture(scope="module")
def prefect_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """The harness's ``prefect server`` with its UI, own home, free port; killed after."""
    with prefect_server(tmp_path_factory.mktemp("e-browser"), ui=True) as server:
        yield server


@pytest.fixture
def browser_rt(
    prefect_ui: PrefectServer,
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from gridgov.runtime import default_runtime, reset_runtime

    db = tmp_path / "ledger.sqlite3"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("GRIDGOV_SPOT_CHECK_SHARE", "0")
    reset_runtime()
    with temporary_settings(
        updates={PREFECT_API_URL: prefect_ui.api_url, PREFECT_UI_URL: prefect_ui.ui_url}
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
    prefect_ui: PrefectServer, browser_rt: Any
) -> None:
    from playwright.async_api import async_playwright
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.logging.handlers import APILogHandler

    from gridgov.api.app import create_app
    from gridgov.api.keystore import create_key
    from gridgov.flows.boards import BOARD_FLOW
    from gridgov.flows.items import item_flow
    from gridgov.flows.launch import Launcher
    from gridgov.flows.supervision import supervise
    from tests.api_support import serve
    from tests.test_flows import item, new

    ui = prefect_ui.ui_url
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
    await APILogHandler.aflush()  # the board run's log is what the supervisor reads first
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
                # 1. Two clicks from the sidebar: Flows, then the board flow's Last run.
                await page.goto(ui)  # Prefect 3.8.8 opens its default UI (/v2) here
                await page.get_by_role("link", name="Flows", exact=True).click()  # click 1
                row = page.locator("tr", has_text=BOARD_FLOW)
                await row.wait_for()
                await page.screenshot(path=str(SHOTS / "1-flows-page.png"), full_page=True)
                await row.get_by_role("link", name="督办看板 @ 2026-11-30 09:00").click()  # 2
                await page.get_by_text("全区督办看板:共 2 件").wait_for()
                await page.get_by_text(waiting.case_no).first.wait_for()
                await page.screenshot(path=str(SHOTS / "2-board-run-log.png"), full_page=True)
                # Its first link opens the newest version of the district board (a new tab).
                async with page.context.expect_page() as opened:
                    await page.locator("a[href*='/v2/artifacts/artifact/']").first.click()
                board = await opened.value
                board.set_default_timeout(WAIT_MS)
                await board.get_by_text(waiting.case_no).first.wait_for()
                await board.get_by_text("升级").first.wait_for()
                await board.get_by_text("北京时间 UTC+8").first.wait_for()
                await board.screenshot(path=str(SHOTS / "3-board-artifact.png"), full_page=True)
                await board.close()

                # 2. The Runs page's tag filter on the new holder finds the re-routed case.
                await page.goto(f"{ui}/v2/runs?tags=holder:{other}")
                await page.get_by_text(f"{no} · {it.name_zh}").first.wait_for()
                deadline = time.monotonic() + WAIT_MS / 1000
                while await page.get_by_text(waiting.case_no).count() > 0:
                    assert time.monotonic() < deadline, "the tag filter kept the other case"
                    await page.wait_for_timeout(500)
                await page.screenshot(path=str(SHOTS / "4-runs-holder-tag.png"), full_page=True)

                # 3. The deployment's page lists its run (plain Completed is not filtered out).
                await page.goto(f"{ui}/v2/deployments/deployment/{dep_id}")
                await page.get_by_text(f"{no} · {it.name_zh} · acknowledged").first.wait_for()
                await page.screenshot(path=str(SHOTS / "5-deployment-runs.png"), full_page=True)

                # 4. The gateway's board page, after the login form.
                await page.goto(f"{gateway}/board")
                await page.fill("#key", key)
                await page.click("button[type=submit]")
                await page.locator("#board").get_by_text(waiting.case_no).wait_for()
                body = await page.inner_text("body")
                assert "北京时间 UTC+8" in body and it.name_zh in body and "升级" in body
                assert "尚未录入 2027 年" in body or "节假日" not in body
                await page.screenshot(path=str(SHOTS / "6-board-page.png"), full_page=True)
                cookies = await page.context.cookies()
                board_cookie = next(c for c in cookies if c["name"] == "gg_board")
                assert board_cookie["httpOnly"] and board_cookie["sameSite"] == "Strict"
            except BaseException:
                await page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
                print(f"failed at {page.url}; screenshot {SHOTS / 'failure.png'}")
                raise
            finally:
                await browser.close()
