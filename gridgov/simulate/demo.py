"""``gridgov demo``: a small district runs a few simulated working days through real flow runs.

Every case, answer and supervision sweep below is a real Prefect flow run (in this process,
against Prefect's local server) writing to the ledger. Time is a simulated clock, so three
working days of deadlines — reminders, 督办 and escalation included — pass in a minute or two.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from prefect import tags

from gridgov.clock import SimClock, use_clock
from gridgov.domain.commands import Answer
from gridgov.domain.enums import CaseStatus, Role, Source, TerritoryKind, Tier
from gridgov.domain.lifecycle import Actor, EventKind
from gridgov.flows.launch import Launcher
from gridgov.item_catalog.models import Item
from gridgov.ledger.records import CaseRecord
from gridgov.runtime import Runtime

K = EventKind


@dataclass
class Story:
    """One case of the demo and the answers people give it, at simulated moments."""

    title: str
    item: Item
    source: Source
    opens_at: timedelta  # after the start of the simulation
    answers: list[tuple[timedelta, str, dict[str, Any]]] = field(default_factory=list)
    case_no: str | None = None


@dataclass
class DemoResult:
    cases: list[tuple[Story, CaseRecord]]
    flow_runs: int
    sweeps: int
    sweep_actions: int
    started: datetime
    ended: datetime


def _pick(rt: Runtime, day: datetime, tier: Tier, source: Source, used: set[str]) -> Item:
    """An item of ``tier`` that ``source`` may report; a fresh one while any is left."""
    fits = [
        i
        for i in sorted(rt.catalog.in_force(day.date()), key=lambda i: i.code)
        if i.tier == tier and source in i.sources
    ]
    if not fits:
        raise LookupError(f"no tier {int(tier)} item reported by {source.value} in force")
    item = next((i for i in fits if i.code not in used), fits[len(used) % len(fits)])
    used.add(item.code)
    return item


def build_stories(rt: Runtime, start: datetime) -> list[Story]:
    used: set[str] = set()

    def h(n: float) -> timedelta:
        return timedelta(hours=n)

    def t3(src: Source = Source.PATROL) -> Item:
        return _pick(rt, start, Tier.DEPARTMENT, src, used)

    evidence = {"evidence": ["photo://after.jpg"]}
    return [
        Story(
            "tier 1: fixed on the spot",
            _pick(rt, start, Tier.FIELD_FIX, Source.PATROL, used),
            Source.PATROL,
            h(0.2),
            # The spot-check draw (GRIDGOV_SPOT_CHECK_SHARE) may send the fix to a reviewer.
            [(h(0.2), "fix", evidence), (h(2), "spot-check", {})],
        ),
        Story(
            "tier 2: community",
            _pick(rt, start, Tier.COMMUNITY, Source.PATROL, used),
            Source.PATROL,
            h(0.5),
            [(h(1), "acknowledge", {}), (h(3), "handle", evidence), (h(5), "pass", {})],
        ),
        Story(
            "tier 3: by the book",
            t3(),
            Source.PATROL,
            h(0.7),
            [
                (h(1), "acknowledge", {}),
                (h(1.5), "arrive", {}),
                (h(4), "handle", evidence),
                (h(6), "pass", {}),
            ],
        ),
        Story(
            "tier 3: returned, re-routed",
            t3(),
            Source.PATROL,
            h(1),
            [
                (h(1.3), "return", {"reason": "not our remit"}),
                (h(2), "reroute", {}),
                (h(2.5), "acknowledge", {}),
                (h(3), "arrive", {}),
                (h(6), "handle", evidence),
                (h(7), "pass", {}),
            ],
        ),
        Story(
            "tier 3: extension granted",
            t3(),
            Source.PATROL,
            h(1.2),
            [
                (h(1.5), "acknowledge", {}),
                (h(2), "arrive", {}),
                (
                    h(2.5),
                    "extend",
                    {"amount": 1, "unit": "working_days", "reason": "materials on order"},
                ),
                (h(3), "grant", {}),
                (h(20), "handle", evidence),
                (h(22), "pass", {}),
            ],
        ),
        Story(
            "tier 3: overdue, answered late",
            t3(),
            Source.PATROL,
            h(1.5),
            [
                (h(40), "acknowledge", {}),
                (h(40.5), "arrive", {}),
                (h(44), "handle", evidence),
                (h(46), "pass", {}),
            ],
        ),
        Story(
            "tier 3: review failed, rework",
            t3(),
            Source.PATROL,
            h(2),
            [
                (h(2.5), "acknowledge", {}),
                (h(3), "arrive", {}),
                (h(5), "handle", evidence),
                (h(6), "fail", {"reason": "not fixed properly"}),
                (h(8), "handle", evidence),
                (h(9), "pass", {}),
            ],
        ),
        Story(
            "citizen: unsatisfied, reopened",
            t3(Source.CITIZEN),
            Source.CITIZEN,
            h(2.5),
            [
                (h(3), "acknowledge", {}),
                (h(3.5), "arrive", {}),
                (h(6), "handle", evidence),
                (h(7), "pass", {}),
                (h(8), "rate", {"rating": "unsatisfied"}),
                (h(20), "handle", evidence),
                (h(21), "pass", {}),
                (h(22), "rate", {"rating": "satisfied"}),
            ],
        ),
    ]


def _answer(rt: Runtime, case: CaseRecord, verb: str, data: dict[str, Any], key: str) -> Answer:
    """Who answers, by verb: the case's assignee, the dispatcher, the reviewer, the citizen."""
    handler: dict[str, Any]
    if case.assignee == "COMMUNITY":
        handler = {
            "role": Role.COMMUNITY,
            "actor": f"grid-team-{case.community_code}",
            "community": case.community_code,
        }
    else:
        handler = {
            "role": Role.DEPARTMENT,
            "actor": f"duty-officer-{case.assignee}",
            "department": case.assignee,
        }
    dispatcher = {"role": Role.DISPATCHER, "actor": "street-command-centre"}
    reviewer = {"role": Role.REVIEWER, "actor": "reviewer-wang"}
    table: dict[str, tuple[EventKind, dict[str, Any]]] = {
        "fix": (K.HANDLED, {"role": Role.PATROLLER, "actor": case.reporter}),
        "acknowledge": (K.ACKNOWLEDGED, handler),
        "arrive": (K.ARRIVED, handler),
        "return": (K.RETURNED, handler),
        "extend": (K.EXTENSION_REQUESTED, handler),
        "handle": (K.HANDLED, handler),
        "reroute": (K.REROUTED, dispatcher),
        "grant": (K.EXTENSION_GRANTED, dispatcher),
        "pass": (K.REVIEW_PASSED, reviewer),
        "fail": (K.REVIEW_FAILED, reviewer),
        "rate": (K.RATED, {"role": Role.CITIZEN, "actor": case.reporter}),
    }
    kind, who = table[verb]
    if verb == "reroute":
        other = next(
            d for d in sorted(rt.catalog.departments) if d not in (case.assignee, "COMMUNITY")
        )
        data = {"department": other, "reason": "belongs to this department"}
    return Answer(kind=kind, payload=data, key=key, **who)


async def run_demo(
    rt: Runtime,
    start: datetime,
    days: int = 3,
    sweep_every: timedelta = timedelta(hours=1),
    on_progress: Callable[[str], Awaitable[None] | None] | None = None,
) -> DemoResult:
    """Drive the stories and the supervision sweeps (every ``sweep_every`` inside office
    hours) through simulated time."""
    from gridgov.flows.supervision import supervise

    run_id = uuid.uuid4().hex[:8]
    sim = SimClock(start)
    launcher = Launcher(rt)
    stories = build_stories(rt, start)
    community = min(rt.catalog.units(TerritoryKind.GRID), key=lambda u: u.code)
    timeline: list[tuple[timedelta, int, str, Story, dict[str, Any]]] = []
    for s in stories:
        timeline.append((s.opens_at, 0, "open", s, {}))
        for i, (offset, verb, data) in enumerate(s.answers, 1):
            timeline.append((offset, i, verb, s, data))
    end = start + timedelta(days=days)
    tick = start
    while tick <= end:
        # Sweeps inside office hours only: outside them a working-time limit stands still, so
        # a night sweep finds nothing new, and the morning's first sweep catches up whatever
        # natural-time limit passed overnight (the sweep acts on everything due). Night sweeps
        # were two thirds of the sweeps and ~40 % of the demo's time (2 days: 32 of 49 sweeps,
        # 140 of 351 s at load 10).
        if rt.calendar.next_working_moment(tick) == tick:
            timeline.append((tick - start, -1, "sweep", stories[0], {}))
        tick += sweep_every
    timeline.sort(key=lambda t: (t[0], t[1] != -1, t[1]))  # sweeps first at equal times
    flow_runs = sweeps = actions = 0
    # Every run of the demo says it is simulated (its start time in the UI is real time).
    with use_clock(sim), tags("simulated", "模拟演示"):
        for offset, seq, verb, story, data in timeline:
            moment = sim.set(start + offset)
            key = f"demo-{run_id}-{story.title}-{seq}-{verb}"
            if verb == "sweep":
                state = await supervise(moment, return_state=True)
                sweeps += 1
                result = await state.aresult()
                actions += int(result["actions"]) if isinstance(result, dict) else 0
                label = f"sweep at {moment:%a %H:%M}: {state.message}"
            elif verb == "open":
                fix = None
                new = {
                    "item_code": story.item.code,
                    "community": community.parent,
                    "grid": community.code,
                    "source": story.source.value,
                    "reporter": "citizen-13800000000"
                    if story.source == Source.CITIZEN
                    else "grid-worker-li",
                    "description": f"demo: {story.title}",
                }
                actor = Actor(
                    Role.CITIZEN if story.source == Source.CITIZEN else Role.PATROLLER,
                    str(new["reporter"]),
                )
                case, started = await launcher.report(new, actor, moment, key, fix)
                story.case_no = case.case_no
                label = f"{case.case_no} reported: {story.item.name_zh} → {started.waits}"
            else:
                assert story.case_no is not None
                case = rt.book.get(story.case_no)
                if verb == "spot-check":
                    if case.status != CaseStatus.UNDER_REVIEW:
                        continue  # not drawn: closed with the fix
                    verb = "pass"
                started = await launcher.answer(
                    case.case_no, _answer(rt, case, verb, data, key), moment
                )
                label = f"{case.case_no} {verb} → {started.waits}"
            flow_runs += 1
            if on_progress is not None:
                maybe = on_progress(label)
                if maybe is not None:
                    await maybe
    cases = [(s, rt.book.get(s.case_no)) for s in stories if s.case_no]
    return DemoResult(cases, flow_runs, sweeps, actions, start, end)


def demo_start(today: datetime, days: int = 3) -> datetime:
    """08:30 on the latest Monday (a normal working week) from which ``days`` end by
    ``today``: the demo's history lies in the past, so live answers after it are in time
    order (the case book refuses an event earlier than a case's last one)."""
    monday = today.date() - timedelta(days=today.weekday())
    start = datetime.combine(monday, time(8, 30), tzinfo=today.tzinfo)
    while start + timedelta(days=days) > today:
        start -= timedelta(days=7)
    return start
