"""``gridgov simulate``: a seeded synthetic district run for N days in accelerated time.

A discrete-event loop over simulated time: reports arrive (patrol, citizen QR/app, hotline,
AI-camera and IoT batches), and after every step the case's new state decides who acts next
and when, drawn from ``SimConfig`` (a share of the time left on the running clock, see
``config``). Supervision sweeps and the citizen-clock check run every ``sweep_every_minutes``.
Every step goes through an ``Executor`` — real flow runs or the same functions inline — so the
ledger it leaves is the one the assessment and the audits read.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from gridgov.domain.commands import Answer
from gridgov.domain.deadlines import limit_unit, moment_at_fraction
from gridgov.domain.enums import CaseStatus, DeadlineKind, Role, Source, Tier
from gridgov.domain.errors import GridgovError
from gridgov.domain.lifecycle import COMMUNITY_UNIT, Actor, EventKind
from gridgov.domain.routing import CALLBACK_SOURCES
from gridgov.intake.places import qr_code
from gridgov.ledger.records import CaseRecord
from gridgov.simulate.config import Share, SimConfig
from gridgov.simulate.district import District, items_for, request_text
from gridgov.simulate.events import machine_events
from gridgov.simulate.executors import Executor

K = EventKind
Progress = Callable[[str], None]
OFFICE = (time(8, 30), time(18, 0))


@dataclass
class _Track:
    """What the simulator remembers of a case: its fate and what was asked already."""

    case_no: str
    stalled: bool = False
    returned: bool = False
    extended: bool = False
    steps: int = 0
    since: datetime | None = None


@dataclass
class SimStats:
    started: datetime
    ended: datetime
    reports: Counter[str] = field(default_factory=Counter)  # by source
    steps: int = 0
    sweeps: int = 0
    ladder_actions: int = 0
    queued_requests: int = 0
    machine_rows: int = 0
    machine_repeats: int = 0
    errors: int = 0


class Simulation:
    def __init__(self, executor: Executor, cfg: SimConfig, seed: int) -> None:
        self.ex = executor
        self.rt = executor.rt
        self.cfg = cfg
        self.seed = seed
        self.rng = random.Random(seed)
        self.district = District.of(self.rt.catalog)
        self.queue: list[tuple[datetime, int, str, dict[str, Any]]] = []
        self.counter = itertools.count()
        self.tracks: dict[str, _Track] = {}
        self.tag = f"sim{seed}-{cfg.start:%Y%m%d}"

    # ------------------------------------------------------------------ schedule
    def _at(self, at: datetime, what: str, **data: Any) -> None:
        heapq.heappush(self.queue, (at, next(self.counter), what, data))

    def _arrival(self, day: datetime) -> datetime:
        """A moment of ``day``: office hours with ``office_share``, else any time."""
        if self.rng.random() < self.cfg.office_share:
            lo = datetime.combine(day.date(), OFFICE[0], day.tzinfo)
            span = datetime.combine(day.date(), OFFICE[1], day.tzinfo) - lo
        else:
            lo, span = day, timedelta(days=1)
        return lo + span * self.rng.random()

    def _count(self, per_day: float) -> int:
        expected = per_day * self.cfg.scale
        n = int(expected)
        return n + (1 if self.rng.random() < expected - n else 0)

    def plan(self, days: float) -> None:
        v = self.cfg.volumes
        tz = self.rt.calendar.tz
        start = self.cfg.start.astimezone(tz)
        for d in range(math.ceil(days)):
            day = start + timedelta(days=d)
            for _ in range(self._count(v.patrol_per_grid * len(self.district.grids))):
                self._at(self._arrival(day), "patrol")
            for _ in range(self._count(v.citizen)):
                self._at(self._arrival(day), "citizen", channel="qr")
            for _ in range(self._count(v.hotline)):
                self._at(self._arrival(day), "citizen", channel="hotline")
            for hour in range(24):  # platforms push hourly batches
                at = day + timedelta(hours=hour + 1)
                self._at(
                    at,
                    "machine",
                    incidents=(
                        self._count(v.ai_camera_incidents / 24),
                        self._count(v.iot_incidents / 24),
                    ),
                )
        end = start + timedelta(days=days)
        tick = start + timedelta(minutes=self.cfg.sweep_every_minutes)
        while tick <= end:
            self._at(tick, "sweep")
            tick += timedelta(minutes=self.cfg.sweep_every_minutes)

    # ------------------------------------------------------------------ run
    async def run(self, days: float, progress: Progress | None = None) -> SimStats:
        start = self.cfg.start.astimezone(self.rt.calendar.tz)
        end = start + timedelta(days=days)
        stats = SimStats(start, end)
        self.plan(days)
        while self.queue and self.queue[0][0] <= end:
            at, _, what, data = heapq.heappop(self.queue)
            try:
                label = await self._do(at, what, data, stats)
            except GridgovError as exc:  # refused (e.g. a state that moved on): note it
                stats.errors += 1
                label = f"{what}: refused: {exc.message}"
            if progress is not None and label:
                progress(label)
        return stats

    async def _do(self, at: datetime, what: str, data: dict[str, Any], stats: SimStats) -> str:
        if what == "sweep":
            n = await self.ex.sweep(at)
            stats.sweeps += 1
            stats.ladder_actions += n
            return f"sweep {at:%a %H:%M}: {n} ladder steps"
        if what == "patrol":
            case = await self._patrol(at)
            stats.reports["patrol"] += 1
            self._follow(case, at)
            return f"{case.case_no} reported (patrol)"
        if what == "citizen":
            return await self._citizen(at, data["channel"], stats)
        if what == "assign":
            out = await self.ex.assign(data["request"], data["item"], at)
            assert out.case_no is not None
            self._follow(self.rt.book.get(out.case_no), at)
            return f"{out.case_no} assigned by the dispatcher"
        if what == "machine":
            return await self._machine(at, data["incidents"], stats)
        case_no = data["case_no"]
        case = await self.ex.answer(case_no, data["answer"], at)
        stats.steps += 1
        self._follow(case, at)
        return f"{case_no} {data['answer'].kind.value} → {case.status}"

    # ------------------------------------------------------------------ arrivals
    async def _patrol(self, at: datetime) -> CaseRecord:
        v = self.cfg.volumes
        r = self.rng.random()
        tier = (
            Tier.FIELD_FIX
            if r < v.field_fix_share
            else Tier.COMMUNITY
            if r < v.field_fix_share + v.community_share
            else Tier.DEPARTMENT
        )
        item = self.rng.choice(items_for(self.rt.catalog, at.date(), Source.PATROL, tier))
        place = self.district.building(self.rng)
        worker = f"grid-worker-{place.grid}"
        new = {
            "item_code": item.code,
            "community": place.community,
            "grid": place.grid,
            "building": place.building,
            "source": Source.PATROL.value,
            "reporter": worker,
        }
        key = f"{self.tag}-p{next(self.counter)}"
        fix = None
        if tier == Tier.FIELD_FIX:  # 现场纠正: fixed on the spot, reported with evidence
            fix = Answer(
                kind=K.HANDLED,
                role=Role.PATROLLER.value,
                actor=worker,
                key=f"{key}-fix",
                payload={"evidence": [f"photo://{key}.jpg"]},
            )
        return await self.ex.report(new, Actor(Role.PATROLLER, worker), at, key, fix)

    async def _citizen(self, at: datetime, channel: str, stats: SimStats) -> str:
        source = Source.HOTLINE if channel == "hotline" else Source.CITIZEN
        item = self.rng.choice(items_for(self.rt.catalog, at.date(), source))
        vague = self.rng.random() < self.cfg.volumes.unclear_request_share
        place = self.district.building(self.rng)
        n = next(self.counter)
        request: dict[str, Any] = {
            "channel": channel,
            "request_id": f"{self.tag}-r{n}",
            "reporter": f"citizen-{138_0000_0000 + n}",
            "text": request_text(None if vague else item, self.rng),
            "received_at": at.isoformat(),
        }
        if channel == "qr":
            request["qr"] = qr_code(place)
        else:
            request |= {"community": place.community, "grid": place.grid}
        out = await self.ex.citizen(request)
        stats.reports[source.value] += 1
        if out.case_no is not None:
            self._follow(self.rt.book.get(out.case_no), at)
            return f"{out.case_no} reported ({channel})"
        stats.queued_requests += 1
        delay = timedelta(minutes=self.cfg.dispatcher.classify.draw(self.rng))
        self._at(at + delay, "assign", request=out.id, item=item.code)
        return f"request {out.request_id} queued for the dispatcher"

    async def _machine(self, at: datetime, incidents: tuple[int, int], stats: SimStats) -> str:
        cameras, sensors = incidents
        span = timedelta(hours=1)
        rows: list[dict[str, Any]] = []
        for count, share in ((cameras, 0.0), (sensors, 1.0)):
            if count:
                rows += machine_events(
                    self.rt.catalog,
                    self.rng,
                    count,
                    at - span,
                    span,
                    sensor_share=share,
                    prefix=f"{self.tag}-{at:%d%H}-{int(share)}",
                )
        if not rows:
            return ""
        # Re-sightings that would come after this batch belong to a later one: drop them.
        rows = [r for r in rows if datetime.fromisoformat(r["at"]) <= at]
        if not rows:
            return ""
        report = await self.ex.machine(rows, at)
        stats.machine_rows += len(rows)
        stats.machine_repeats += report.repeats
        for no in report.case_nos:
            case = self.rt.book.get(no)
            stats.reports[case.source] += 1
            self._follow(case, max(at, case.opened_at))
        return f"machine batch {at:%a %H:%M}: {len(rows)} events, {len(report.case_nos)} cases"

    # ------------------------------------------------------------------ who acts next
    def _when(self, case: CaseRecord, now: datetime, share: Share) -> datetime:
        """``now`` plus a share of the time left on the running clock (later when late)."""
        if case.clock_kind is None or case.clock_due is None or case.clock_due <= now:
            return now + timedelta(minutes=30 * share.draw(self.rng) / share.median)
        rules = self.rt.book.rules(case.item_code, case.item_version)
        unit = limit_unit(rules, DeadlineKind(case.clock_kind))
        f = share.draw(self.rng)
        return moment_at_fraction(self.rt.calendar, now, case.clock_due, unit, f)

    def _answer(
        self, case: CaseRecord, track: _Track, kind: EventKind, who: str, **payload: Any
    ) -> Answer:
        track.steps += 1
        key = f"{self.tag}-{case.case_no}-{track.steps}"
        if who == "handler":
            if case.assignee == COMMUNITY_UNIT:
                return Answer(
                    kind=kind,
                    role="community",
                    actor=f"grid-team-{case.community_code}",
                    community=case.community_code,
                    key=key,
                    payload=payload,
                )
            return Answer(
                kind=kind,
                role="department",
                actor=f"officer-{case.assignee}",
                department=case.assignee,
                key=key,
                payload=payload,
            )
        if who == "patroller":
            return Answer(
                kind=kind, role="patroller", actor=case.reporter, key=key, payload=payload
            )
        if who == "citizen":
            return Answer(kind=kind, role="citizen", actor=case.reporter, key=key, payload=payload)
        return Answer(kind=kind, role=who, actor=f"{who}-1", key=key, payload=payload)

    def _follow(self, case: CaseRecord, now: datetime) -> None:
        """Schedule the next person's answer for ``case`` as it stands at ``now``."""
        track = self.tracks.setdefault(case.case_no, _Track(case.case_no))
        s, cfg, rng = CaseStatus(case.status), self.cfg, self.rng
        h = cfg.handler(case.assignee)
        evidence = {"evidence": [f"photo://{case.case_no}-{track.steps}.jpg"]}
        nxt: tuple[datetime, Answer] | None = None
        if s in (CaseStatus.CLOSED, CaseStatus.CANCELLED) or track.stalled:
            return
        if s == CaseStatus.REPORTED and case.tier == Tier.FIELD_FIX:  # a machine-found fix
            nxt = (
                self._when(case, now, h.handle),
                self._answer(case, track, K.HANDLED, "patroller", **evidence),
            )
        elif s == CaseStatus.DISPATCHED:
            if rng.random() < h.stall_rate:
                track.stalled = True
                return
            kind = K.ACKNOWLEDGED
            if not track.returned and case.tier == Tier.DEPARTMENT and rng.random() < h.return_rate:
                track.returned, kind = True, K.RETURNED
            payload = {"reason": "not our remit"} if kind == K.RETURNED else {}
            when = (
                now + timedelta(minutes=h.citizen_acknowledge.draw(rng))
                if case.source in CALLBACK_SOURCES
                else self._when(case, now, h.acknowledge)
            )
            nxt = (when, self._answer(case, track, kind, "handler", **payload))
        elif s == CaseStatus.RETURNED:
            other = self._other_department(case)
            delay = timedelta(minutes=cfg.dispatcher.reroute.draw(rng))
            nxt = (
                now + delay,
                self._answer(
                    case,
                    track,
                    K.REROUTED,
                    "dispatcher",
                    department=other,
                    reason="belongs to this department",
                ),
            )
        elif (
            s == CaseStatus.ACKNOWLEDGED
            and case.tier == Tier.DEPARTMENT
            and not case.extension_pending
        ):
            nxt = (self._when(case, now, h.arrive), self._answer(case, track, K.ARRIVED, "handler"))
        elif case.extension_pending:
            delay = timedelta(minutes=cfg.dispatcher.extension.draw(rng))
            grant = rng.random() < cfg.dispatcher.grant_rate
            kind = K.EXTENSION_GRANTED if grant else K.EXTENSION_REFUSED
            payload = {} if grant else {"reason": "finish within the limit"}
            nxt = (now + delay, self._answer(case, track, kind, "dispatcher", **payload))
        elif s in (CaseStatus.ACKNOWLEDGED, CaseStatus.IN_PROGRESS, CaseStatus.REWORK):
            if not track.extended and rng.random() < h.extension_rate:
                track.extended = True
                nxt = (
                    now + timedelta(minutes=20),
                    self._answer(
                        case,
                        track,
                        K.EXTENSION_REQUESTED,
                        "handler",
                        amount=1,
                        unit="working_days",
                        reason="waiting for materials",
                    ),
                )
            else:
                when = (
                    max(now, case.opened_at + timedelta(minutes=h.citizen_handle.draw(rng)))
                    if case.source in CALLBACK_SOURCES
                    else self._when(case, now, h.handle)
                )
                nxt = (when, self._answer(case, track, K.HANDLED, "handler", **evidence))
        elif s in (CaseStatus.UNDER_REVIEW, CaseStatus.HANDLED):
            fail = rng.random() < cfg.reviewer.fail_rate
            kind = K.REVIEW_FAILED if fail else K.REVIEW_PASSED
            payload = {"reason": "not fixed properly"} if fail else {}
            nxt = (
                self._when(case, now, cfg.reviewer.delay),
                self._answer(case, track, kind, "reviewer", **payload),
            )
        elif s == CaseStatus.EVALUATING:
            c = cfg.citizens
            r = rng.random()
            rating = (
                "satisfied"
                if r < c.satisfied
                else "basically_satisfied"
                if r < c.satisfied + c.basically_satisfied
                else "unsatisfied"
            )
            delay = timedelta(minutes=c.callback.draw(rng))
            nxt = (now + delay, self._answer(case, track, K.RATED, "citizen", rating=rating))
        if nxt is not None:
            self._at(max(nxt[0], now), "answer", case_no=case.case_no, answer=nxt[1])

    def _other_department(self, case: CaseRecord) -> str:
        depts = sorted(
            d for d in self.rt.catalog.departments if d not in (case.assignee, COMMUNITY_UNIT)
        )
        return (
            case.lead_department
            if case.lead_department != case.assignee
            else self.rng.choice(depts)
        )
