"""What a sweep publishes to Prefect after its ledger transaction: boards, events, tags, trails.

* board artifacts with stable keys — ``board-district``, ``board-dept-<code>``,
  ``board-community-<code>`` — each the *current* state (every department and community has
  one, empty ones too, so a board that emptied says so), rewritten only when what it says
  changed; rows link to the case's runs (a tag filter: no read per case);
* one ``gridgov.case.<step>`` event per ladder step fired (batched ``POST /events``);
* the latest run of each case moved up the ladder retagged (``level:``, ``overdue``…) and its
  trail artifact rewritten — both bounded per sweep (``follow``, most severe first), because
  each costs Prefect API calls per case; the events and the boards cover every case.

Called after the sweep committed — boards by the ``board-督办看板`` subflow
(``flows/boards.py``), events and followed cases by the sweep's ``publish-ladder`` task; a
failure here loses no ledger work (the next sweep publishes the current state again).
See docs/boards.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.runtime import flow_run, task_run
from prefect.settings import PREFECT_UI_URL

from gridgov.boards.labels import DISTRICT_KEY, community_key, dept_key, holder_zh, place_zh
from gridgov.boards.query import BoardSet, BoardSnapshot, holiday_note, read_boards
from gridgov.boards.render import markdown
from gridgov.boards.runs import (
    Situation,
    case_tag,
    ladder_event,
    post_events,
    retag_case,
    run_url,
)
from gridgov.boards.trail import trail_artifact
from gridgov.domain.enums import TerritoryKind
from gridgov.ledger.progress import waiting_now
from gridgov.ledger.records import CaseRecord
from gridgov.ledger.supervision import SweepAction
from gridgov.runtime import Runtime

SEVERITY = {"escalated": 0, "supervised": 1, "reminded": 2}
PARALLEL = 8  # Prefect API calls in flight


@dataclass(frozen=True, slots=True)
class Published:
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


@dataclass(frozen=True, slots=True)
class BoardLink:
    """One board as the index lists it: its newest version, written now or kept."""

    key: str
    title: str
    snapshot: BoardSnapshot
    artifact_id: UUID | None
    written: bool


# Prefect 3.8.8 serves its default UI (the one ``/`` opens) under ``/v2``. Its Runs page with a
# ``tags`` filter spans all time; the older UI's (``/runs?tag=``) only the past 7 days, which
# hides the runs of a case overdue for weeks.
UI_V2 = "v2"


def _ui_base() -> str | None:
    base = PREFECT_UI_URL.value()
    return f"{str(base).rstrip('/')}/{UI_V2}" if base else None


def case_runs_url(case_no: str) -> str | None:
    """The case's runs, newest first (the Runs page filtered on its ``case:`` tag): a link
    that costs no API read per case, unlike looking up each case's latest run."""
    base = _ui_base()
    return f"{base}/runs?tags={quote(case_tag(case_no))}" if base else None


def artifact_url(artifact_id: UUID | str) -> str | None:
    """A board version's own page (Prefect's ``url_for`` has no artifact pages)."""
    base = _ui_base()
    return f"{base}/artifacts/artifact/{artifact_id}" if base else None


def _current_run() -> tuple[UUID | None, UUID | None]:
    flow_id, task_id = flow_run.get_id(), task_run.get_id()
    return (UUID(flow_id) if flow_id else None, UUID(task_id) if task_id else None)


def board_titles(rt: Runtime, boards: BoardSet) -> list[tuple[str, str, BoardSnapshot, str]]:
    """(key, title, snapshot, description) of every board: district, departments, communities."""
    cat = rt.catalog
    wanted: list[tuple[str, str, BoardSnapshot, str]] = [
        (DISTRICT_KEY, "全区督办看板", boards.district, "全区超期与临期案件(每次督办巡查更新)")
    ]
    for code, snap in boards.departments.items():
        name = holder_zh(cat, code)
        wanted.append((dept_key(code), f"{name}督办看板", snap, f"{name}({code})超期与临期案件"))
    for code, snap in boards.communities.items():
        name = place_zh(cat, code)
        name += "" if name.endswith("社区") else "社区"
        wanted.append(
            (community_key(code), f"{name}督办看板", snap, f"{name}({code})超期与临期案件")
        )
    return wanted


async def publish_boards(
    rt: Runtime, boards: BoardSet, sweep_run: str | None = None
) -> list[BoardLink]:
    """Every board as a markdown artifact, written only where what it says changed (one read
    of every board's newest version, then one write per changed board on one client)."""
    cat, tz = rt.catalog, rt.calendar.tz
    note = await asyncio.to_thread(holiday_note, rt.book, boards.district.as_of)
    warning = f"\n**注意(节假日数据)**:{note}\n" if note else ""
    sweep_url = run_url(sweep_run) if sweep_run else None
    sweep_link = f"[本次督办巡查]({sweep_url})\n\n" if sweep_url else ""
    wanted = board_titles(rt, boards)
    run_id, task_id = _current_run()
    async with get_client() as client:
        latest = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[w[0] for w in wanted])
            ),
            limit=len(wanted),
        )
        newest = {a.key: a for a in latest}

        async def one(key: str, title: str, snap: BoardSnapshot, description: str) -> BoardLink:
            md = markdown(title, snap, cat, tz, links=case_runs_url, note=warning)
            old = newest.get(key)
            if old is not None and isinstance(old.data, str) and md.body in old.data:
                return BoardLink(key, title, snap, old.latest_id, written=False)
            made = await client.create_artifact(
                ArtifactCreate(
                    key=key,
                    type="markdown",
                    data=md.head + sweep_link + md.body,
                    description=description,
                    flow_run_id=run_id,
                    task_run_id=task_id,
                )
            )
            return BoardLink(key, title, snap, made.id, written=True)

        return await _bounded([one(*w) for w in wanted])


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

    run_id, task_id = _current_run()

    async def one(client: Any, case_no: str) -> None:
        case = await asyncio.to_thread(rt.book.get, case_no)
        trail = await asyncio.to_thread(rt.book.trail, case_no)
        await retag_case(client, situation_of(case))
        made = trail_artifact(case, trail, waiting_now(case).value, rt.catalog, rt.calendar.tz)
        here = {"flow_run_id": run_id, "task_run_id": task_id}
        await client.create_artifact(made.model_copy(update=here))

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


async def publish_ladder(
    rt: Runtime, actions: Sequence[SweepAction], now: datetime, *, follow: int = 50
) -> Published:
    """After a sweep: one event per ladder step fired, and the most severe cases followed."""
    n_events, n_followed = await asyncio.gather(
        publish_events(rt, actions, now), follow_cases(rt, actions, follow)
    )
    return Published(n_events, n_followed)
