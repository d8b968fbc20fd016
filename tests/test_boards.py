"""Boards: the on-the-ladder rule, Chinese wording, and what a sweep publishes to Prefect."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    ArtifactFilter,
    ArtifactFilterKey,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.logging.handlers import APILogHandler

from gridgov.boards.labels import (
    artifact_key,
    community_key,
    dept_key,
    holiday_note_zh,
    level_zh,
    local,
    span_zh,
)
from gridgov.boards.query import read_board
from gridgov.boards.runs import Situation, merged
from gridgov.domain.enums import Role, Tier
from gridgov.domain.lifecycle import Actor
from gridgov.flows.boards import BOARD_FLOW
from gridgov.flows.launch import Launcher
from gridgov.flows.supervision import supervise
from gridgov.runtime import Runtime
from tests.conftest import at
from tests.test_flows import item, new

PATROLLER = Actor(Role.PATROLLER, "grid-worker-7")
TZ = ZoneInfo("Asia/Shanghai")


def test_labels_speak_chinese_and_local_time() -> None:
    assert [level_zh(x) for x in ("reminded", "supervised", "escalated", None)] == [
        "提醒",
        "督办",
        "升级",
        "已到期未督办",
    ]
    assert local(datetime(2026, 11, 23, 9, 4, tzinfo=UTC), TZ) == "2026-11-23 17:04 北京时间 UTC+8"
    assert span_zh(2.5, working=True) == "2.5 工作小时"
    assert span_zh(27, working=False) == "1 天 3.0 小时"
    # Prefect artifact keys: lowercase, digits, dashes.
    assert artifact_key("board", "dept", "XFB") == "board-dept-xfb"
    assert community_key("GM-FH-DONGKENG") == "board-community-gm-fh-dongkeng"
    assert dept_key("CG") == "board-dept-cg"
    assert holiday_note_zh((), 0) is None
    assert holiday_note_zh((2027,), 3) == (
        "尚未录入 2027 年的法定节假日安排;3 件案件的时限为临时计算(暂按周一至周五)。"
        "请管理员录入节假日数据后执行 gridgov calendar recount 重算时限。"
    )


def test_situation_tags_replace_stale_ones() -> None:
    s = Situation("C1", "AJ", "dispatched", "AwaitingDepartment", "supervised", True, "X", "Y")
    old = ["tier:3", "dept:JT", "holder:JT", "waits:AwaitingReroute", "status:returned"]
    tags = merged(old, s.tags())
    assert "holder:JT" not in tags and "holder:AJ" in tags and "overdue" in tags
    assert "level:supervised" in tags and "dept:JT" in tags and "case:C1" in tags


pytestmark = pytest.mark.prefect


async def _artifact(key: str) -> str:
    async with get_client() as client:
        found = await client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))  # type: ignore[arg-type]
        )
    assert found, f"no artifact {key}"
    return str(found[0].data)


async def test_sweep_publishes_boards_events_and_tags(rt: Runtime) -> None:
    it = item(rt, Tier.DEPARTMENT)
    case, _ = await Launcher(rt).report(new(rt, it), PATROLLER, at(2026, 11, 23, 9), "r")
    due = rt.book.get(case.case_no).clock_due
    assert due is not None
    with rt.book.factory() as s:
        assert read_board(s, rt.calendar, at(2026, 11, 23, 9)).total == 0
    later = at(2026, 11, 30, 9)
    state = await supervise(later, return_state=True)
    assert (await state.aresult())["escalated"] == 1
    with rt.book.factory() as s:
        snap = read_board(s, rt.calendar, later)
    assert [e.case_no for e in snap.entries] == [case.case_no]
    assert snap.entries[0].late_hours > 0 and snap.entries[0].late_working
    district = await _artifact("board-district")
    assert case.case_no in district and it.name_zh in district and "升级" in district
    assert "北京时间 UTC+8" in district
    # The holiday-data warning (no 2027 data in November) is Chinese like the rest.
    assert "尚未录入 2027 年的法定节假日安排" in district and "holiday" not in district
    dept = await _artifact(dept_key(it.lead_department))
    assert case.case_no in dept
    other = next(d for d in sorted(rt.catalog.departments) if d != it.lead_department)
    assert "当前没有超期或临期案件" in await _artifact(dept_key(other))
    # Rows link to the case's runs through the Runs page's tag filter (no read per case).
    assert f"/v2/runs?tags=case%3A{case.case_no})" in district
    # The board flow's newest run logs the index: every non-empty board, its newest version.
    await APILogHandler.aflush()  # run logs are sent in batches
    async with get_client() as client:
        board_runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[BOARD_FLOW])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=1,
        )
        logs = await client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[board_runs[0].id]))
        )
        newest = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=["board-district"])
            )
        )
    index = "\n".join(x.message for x in logs)
    assert "全区督办看板:共 1 件(升级 1) → " in index
    assert f"/v2/artifacts/artifact/{newest[0].latest_id}" in index
    assert f"{case.case_no} · {it.name_zh}" in index  # the district's most urgent, listed
    assert board_runs[0].state is not None and board_runs[0].state.is_completed()
    # A second sweep at the same moment changes nothing: no board is rewritten.
    again = await supervise(later, return_state=True)
    assert (await again.aresult())["escalated"] == 0
    async with get_client() as client:
        after = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=["board-district"])
            )
        )
    assert after[0].latest_id == newest[0].latest_id
    trail = await _artifact(artifact_key("case", case.case_no))
    assert "升级" in trail and "督办" in trail
    # Case numbers repeat across tests on the session's Prefect server: the newest run is ours.
    async with get_client() as client:
        mine = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"case:{case.case_no}"])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )
    assert mine and "overdue" in mine[0].tags and "level:escalated" in mine[0].tags
    assert f"holder:{it.lead_department}" in mine[0].tags


async def test_refused_answer_ends_completed_tagged_refused(rt: Runtime) -> None:
    """An answer the rules refuse, sent straight to the flow (Prefect's REST path, not the
    gateway): nothing recorded, the run is Completed and tagged ``refused``, not Failed."""
    from gridgov.domain.commands import Answer
    from gridgov.domain.lifecycle import EventKind
    from gridgov.flows.items import item_flow

    it = item(rt, Tier.DEPARTMENT)
    case, _ = await Launcher(rt).report(new(rt, it), PATROLLER, at(2026, 11, 23, 9), "r")
    before = [e.kind for e in rt.book.trail(case.case_no)]
    early = Answer(
        kind=EventKind.HANDLED,
        role="department",
        actor="officer",
        department=it.lead_department,
        key="too-early",
        payload={"evidence": ["p"]},
    )
    state = await item_flow(it.code)(case.case_no, early, at(2026, 11, 23, 10), return_state=True)
    assert state.is_completed() and state.name == "Completed"
    assert "refused" in (state.message or "")
    assert [e.kind for e in rt.book.trail(case.case_no)] == before
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]
    assert "refused" in run.tags
