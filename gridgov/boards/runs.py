"""Run tags that follow a case's current situation, and Prefect events for its ladder steps.

Tags are what the Prefect UI's filter picks, so a case's *latest* run carries where the case
stands now — ``holder:<dept>``, ``status:<status>``, ``waits:<AwaitingX>``, ``level:<step>``,
``overdue`` — and its older runs lose those (they keep ``case:<no>`` and the item's tags).
A filter on ``holder:AJ`` then finds a case re-routed from JT to AJ, and ``overdue`` lists
only cases that are overdue now, whatever state names the runs ended with.

Ladder steps fired by the sweep run no flow: each becomes a Prefect event
``gridgov.case.<step>`` with the case as its resource (automations can match on it), posted
in batches to the server's ``POST /events``. See docs/boards.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.sorting import FlowRunSort
from prefect.utilities.urls import url_for

# Tags that describe the case now; only its latest run keeps them.
SITUATION_PREFIXES = ("holder:", "status:", "waits:", "level:")
SITUATION_FLAGS = ("overdue",)
EVENT_BATCH = 500  # events per POST /events


@dataclass(frozen=True, slots=True)
class Situation:
    """Where a case stands, as its latest run's tags say it."""

    case_no: str
    holder: str
    status: str
    waiting: str
    level: str | None
    overdue: bool
    community: str
    street: str

    def tags(self) -> list[str]:
        out = [
            case_tag(self.case_no),
            f"holder:{self.holder}",
            f"status:{self.status}",
            f"waits:{self.waiting}",
            f"community:{self.community}",
            f"street:{self.street}",
        ]
        if self.level:
            out.append(f"level:{self.level}")
        if self.overdue:
            out.append("overdue")
        return out


def case_tag(case_no: str) -> str:
    return f"case:{case_no}"


def is_situational(tag: str) -> bool:
    return tag in SITUATION_FLAGS or tag.startswith(SITUATION_PREFIXES)


def merged(old: Iterable[str], situation: Sequence[str]) -> list[str]:
    """The run's own tags without stale situation tags, plus the new ones (order kept)."""
    keep = [t for t in old if not is_situational(t) and t not in situation]
    return keep + [t for t in situation if t not in keep]


def run_url(run_id: UUID | str) -> str | None:
    return url_for("flow-run", obj_id=str(run_id)) or None


async def retag_case(
    client: PrefectClient, situation: Situation, current: UUID | None = None
) -> UUID | None:
    """Give the case's latest run (``current`` if given) the situation's tags and take them
    off its older runs. Returns the run that carries them."""
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[case_tag(situation.case_no)])),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=50,
    )
    head = current if current is not None else (runs[0].id if runs else None)
    new = situation.tags()
    for run in runs:
        if run.id == head:
            continue
        if any(is_situational(t) for t in run.tags):
            await client.update_flow_run(
                run.id, tags=[t for t in run.tags if not is_situational(t)]
            )
    if head is not None:
        old = next((r.tags for r in runs if r.id == head), None)
        if old is None:
            old = (await client.read_flow_run(head)).tags
        if set(merged(old, new)) != set(old):
            await client.update_flow_run(head, tags=merged(old, new))
    return head


def ladder_event(
    case_no: str,
    step: str,
    at: datetime,
    *,
    item: str,
    holder: str,
    community: str,
    overdue: bool,
    clock: str,
    due: datetime,
) -> dict[str, Any]:
    """A ``gridgov.case.<step>`` event as the server's ``POST /events`` takes it."""
    return {
        "id": str(uuid4()),
        "occurred": at.isoformat(),
        "event": f"gridgov.case.{step}",
        "resource": {
            "prefect.resource.id": f"gridgov.case.{case_no}",
            "prefect.resource.name": f"{case_no} · {item}",
            "gridgov.holder": holder,
            "gridgov.community": community,
        },
        "related": [
            {
                "prefect.resource.id": f"gridgov.department.{holder}",
                "prefect.resource.role": "holder",
            },
            {
                "prefect.resource.id": f"gridgov.community.{community}",
                "prefect.resource.role": "community",
            },
        ],
        "payload": {"clock": clock, "due": due.isoformat(), "overdue": overdue},
    }


async def post_events(client: PrefectClient, events: Sequence[dict[str, Any]]) -> int:
    """Send events in batches of ``EVENT_BATCH`` (one HTTP request each)."""
    for i in range(0, len(events), EVENT_BATCH):
        response = await client.request("POST", "/events", json=list(events[i : i + EVENT_BATCH]))
        response.raise_for_status()
    return len(events)
