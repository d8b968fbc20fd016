"""What a sweep publishes to Prefect after its ledger transaction: boards, events, tags, trails.

* board artifacts with stable keys — ``board-district``, ``board-dept-<code>``,
  ``board-community-<code>`` — each the *current* state (every department and community gets
  one, empty ones too, so a board that emptied says so);
* one ``gridgov.case.<step>`` event per ladder step fired (batched ``POST /events``);
* the latest run of each case moved up the ladder retagged (``level:``, ``overdue``…) and its
  trail artifact rewritten — both bounded per sweep (``follow``, most severe first), because
  each costs Prefect API calls per case; the events and the boards cover every case.

Called by the ``supervise`` flow after the sweep committed; a failure here loses no ledger
work (the next sweep publishes the current state again). See docs/boards.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.runtime import flow_run

from gridgov.boards.labels import DISTRICT_KEY, community_key, dept_key, holder_zh, place_zh
from gridgov.boards.query import BoardSet, BoardSnapshot, holiday_note, read_boards
from gridgov.boards.render import EMPTY_ZH, markdown
from gridgov.boards.runs import (
    Situation,
    ladder_event,
    latest_runs,
    post_events,
    retag_case,
    run_url,
)
from gridgov.boards.trail import publish_trail
from gridgov.domain.enums import TerritoryKind
from gridgov.ledger.progress import waiting_now
from gridgov.ledger.records import CaseRecord
from gridgov.ledger.supervision import SweepAction
from gridgov.runtime import Runtime

SEVERITY = {"escalated": 0, "supervised": 1, "reminded": 2}
PARALLEL = 8  # Prefect API calls in flight


@dataclass(frozen=True, slots=True)
class Published:
    boards: int
    events: int
    followed: int  # cases retagged and trail rewritten


async def _bounded(jobs: Sequence[Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(PARALLEL)

    async def one(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def read_all(rt: Runtime, now: datetime, limit: int = 100) -> BoardSet:
    depts = sorted(rt.catalog.departments)
    comms = sorted(u.code for u in rt.catalog.units(TerritoryKind.COMMUNITY))
    with rt.book.factory() as s:
        return read_boards(s, rt.calendar, now, depts, comms, limit=limit)


async def publish_boards(rt: Runtime, boards: BoardSet, sweep_run: str | None = None) -> int:
    """Every board as a markdown artifact; rows link to each case's latest run."""
    shown = sorted(
        {
            e.case_no
            for snap in (
                boards.district,
                *boards.departments.values(),
                *boards.communities.values(),
            )
            for e in snap.entries
        }
    )
    async with get_client() as client:
        runs = await latest_runs(client, shown) if shown else {}
    links = {no: url for no, run in runs.items() if (url := run_url(run.id))}
    sweep_url = run_url(sweep_run) if sweep_run else None
    footer = f"\n[最新一次督办巡查]({sweep_url})\n" if sweep_url else ""
    warning = await asyncio.to_thread(holiday_note, rt.book, boards.district.as_of)
    if warning:  # deadlines counted without the year's holiday data: say so on every board
        footer += f"\n**注意(节假日数据)**:{warning}\n"
    cat, tz = rt.catalog, rt.calendar.tz
    wanted: list[tuple[str, str, BoardSnapshot, str]] = [
        (DISTRICT_KEY, "全区督办看板", boards.district, "全区超期与临期案件(每次督办巡查更新)")
    ]
    for code, snap in boards.departments.items():
        name = holder_zh(cat, code)
        wanted.append((dept_key(code), f"{name}督办看板", snap, f"{name}({code})超期与临期案件"))
    for code, snap in boards.communities.items():
        name = place_zh(cat, code)
        wanted.append(
            (community_key(code), f"{name}社区督办看板", snap, f"{name}({code})超期与临期案件")
        )
    # An empty board whose newest version is empty already says the truth: not rewritten
    # (most departments and communities, most sweeps; each version is a server write).
    async with get_client() as client:
        latest = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[w[0] for w in wanted])
            ),
            limit=len(wanted),
        )
    empty_now = {a.key for a in latest if isinstance(a.data, str) and EMPTY_ZH in a.data}
    jobs = [
        acreate_markdown_artifact(
            key=key,
            markdown=markdown(title, snap, cat, tz, links=links, footer=footer),
            description=description,
        )
        for key, title, snap, description in wanted
        if snap.total or key not in empty_now
    ]
    await _bounded(jobs)
    return len(jobs)


async def publish_events(rt: Runtime, actions: Sequence[SweepAction], now: datetime) -> int:
    if not actions:
        return 0
    names = {a.case_no: a.case_no for a in actions}
    events = [
        ladder_event(
            a.case_no,
            a.step,
            now,
            item=names[a.case_no],
            holder=a.assignee,
            community=a.community,
            overdue=a.overdue,
            clock=a.clock,
            due=a.due,
        )
        for a in actions
    ]
    async with get_client() as client:
        return await post_events(client, events)


async def follow_cases(rt: Runtime, actions: Sequence[SweepAction], limit: int) -> int:
    """Retag the latest run and rewrite the trail of up to ``limit`` cases, most severe first."""
    worst: dict[str, int] = {}
    for a in actions:
        worst[a.case_no] = min(worst.get(a.case_no, 9), SEVERITY.get(a.step, 9))
    picked = sorted(worst, key=lambda no: (worst[no], no))[:limit]
    if not picked:
        return 0

    async def one(client: Any, case_no: str) -> None:
        case = await asyncio.to_thread(rt.book.get, case_no)
        trail = await asyncio.to_thread(rt.book.trail, case_no)
        await retag_case(client, situation_of(case))
        await publish_trail(case, trail, waiting_now(case).value, rt.catalog, rt.calendar.tz)

    async with get_client() as client:
        await _bounded([one(client, no) for no in picked])
    return len(picked)


def situation_of(case: CaseRecord) -> Situation:
    """The case's situation as its latest run's tags carry it (``waits:`` without overdue:
    the ``overdue`` tag says that)."""
    return Situation(
        case_no=case.case_no,
        holder=case.assignee,
        status=case.status,
        waiting=waiting_now(case, show_overdue=False).value,
        level=case.supervision_level,
        overdue=bool(case.overdue),
        community=case.community_code,
        street=case.street_code,
    )


async def tag_this_run(situation: Situation) -> None:
    """From inside a case's flow run: this run carries the case's situation now."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    async with get_client() as client:
        await retag_case(client, situation, UUID(run_id))


async def publish_after_sweep(
    rt: Runtime,
    actions: Sequence[SweepAction],
    now: datetime,
    *,
    sweep_run: str | None = None,
    follow: int = 50,
) -> Published:
    boards = await asyncio.to_thread(read_all, rt, now)
    n_boards, n_events, n_followed = await asyncio.gather(
        publish_boards(rt, boards, sweep_run),
        publish_events(rt, actions, now),
        follow_cases(rt, actions, follow),
    )
    return Published(n_boards, n_events, n_followed)
