"""Which clock a case runs against, when each falls due, and the supervision ladder (督办)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridgov.domain.calendar import Duration, WorkingCalendar
from gridgov.domain.enums import CaseStatus as S
from gridgov.domain.enums import DeadlineKind, Tier, TimeUnit
from gridgov.domain.errors import InvalidInput
from gridgov.domain.lifecycle import EventKind
from gridgov.domain.tiers import path

# The satisfaction callback (回访) after the review passed: the citizen promise of 24 hours
# (intake/citizen_clock.CitizenClockRules.callback), the same for every item.
CALLBACK_LIMIT = Duration(24, TimeUnit.HOURS)


@dataclass(frozen=True, slots=True)
class DeadlineRules:
    """An item's time limits (from the catalogue row the case was opened under). None: the
    item has no such limit (catalogue ``none``), so nothing falls due and nothing is late."""

    acknowledge: Duration | None
    handle: Duration | None
    review: Duration | None
    arrive: Duration | None = None
    callback: Duration = CALLBACK_LIMIT


@dataclass(frozen=True, slots=True)
class Clock:
    """One running time limit: started at ``start``, due at ``due``, counted in ``unit``."""

    kind: DeadlineKind
    start: datetime
    due: datetime
    unit: TimeUnit


def running_clock_kind(status: S, tier: Tier) -> DeadlineKind | None:
    """The limit that matters while a case sits in ``status`` (the tier's path decides)."""
    return path(tier).running_limit(status)


def due_after(cal: WorkingCalendar, start: datetime, limit: Duration | None) -> datetime | None:
    """When ``limit`` counted from ``start`` falls due; None for no limit (never overdue)."""
    return cal.deadline(start, limit) if limit is not None else None


def rule_for(rules: DeadlineRules, kind: DeadlineKind) -> Duration | None:
    if kind == DeadlineKind.ARRIVE:
        # Tier 1/2 items (and tier 3 ones saying ``arrive: none``) have no arrival limit:
        # arriving is part of handling.
        return rules.arrive or rules.handle
    return {
        DeadlineKind.ACKNOWLEDGE: rules.acknowledge,
        DeadlineKind.HANDLE: rules.handle,
        DeadlineKind.REVIEW: rules.review,
        DeadlineKind.CALLBACK: rules.callback,
    }[kind]


def limit_unit(rules: DeadlineRules, kind: DeadlineKind) -> TimeUnit:
    """The unit a running limit is counted in. A deadline kept from an imported source for a
    limit the item does not have is counted in natural time."""
    limit = rule_for(rules, kind)
    return limit.unit if limit is not None else TimeUnit.HOURS


def moment_at_fraction(
    cal: WorkingCalendar, start: datetime, due: datetime, unit: TimeUnit, fraction: float
) -> datetime:
    """The moment when ``fraction`` of the window [start, due] is used (may be past ``due``)."""
    if fraction < 0:
        raise InvalidInput("ladder fraction must be ≥ 0", field="fraction")
    if unit.is_working:
        hours = cal.working_elapsed(start, due).total_seconds() / 3600 * fraction
        return cal.deadline(start, Duration(hours, TimeUnit.WORKING_HOURS)) if hours else start
    return start + (due - start) * fraction


@dataclass(frozen=True, slots=True)
class LadderStep:
    kind: EventKind  # REMINDED, SUPERVISED or ESCALATED
    fraction: float  # share of the time limit used when the step fires


@dataclass(frozen=True, slots=True)
class Ladder:
    """The supervision ladder: reminder before the deadline, 督办 at it, escalation past it."""

    steps: tuple[LadderStep, ...] = (
        LadderStep(EventKind.REMINDED, 0.8),
        LadderStep(EventKind.SUPERVISED, 1.0),
        LadderStep(EventKind.ESCALATED, 1.5),
    )

    def __post_init__(self) -> None:
        fractions = [s.fraction for s in self.steps]
        if not self.steps or fractions != sorted(set(fractions)):
            raise InvalidInput(
                "ladder steps need strictly increasing fractions", field="ladder.steps"
            )
        allowed = {EventKind.REMINDED, EventKind.SUPERVISED, EventKind.ESCALATED}
        for step in self.steps:
            if step.kind not in allowed:
                raise InvalidInput(f"{step.kind} is not a supervision step", field="ladder.steps")
            # Readers tell a reminded case by its timer alone (the sweep does not write the
            # case row before the deadline): a step before it must be a reminder.
            if (step.fraction < 1.0) != (step.kind == EventKind.REMINDED):
                raise InvalidInput(
                    f"{step.kind} at {step.fraction}: steps before the deadline (< 1.0) are "
                    "reminders, steps at or after it are not",
                    field="ladder.steps",
                )

    @classmethod
    def parse(cls, spec: str) -> Ladder:
        """``"reminded:0.8,supervised:1.0,escalated:1.5"``."""
        steps = []
        for part in spec.split(","):
            try:
                name, frac = part.split(":")
                steps.append(LadderStep(EventKind(name.strip()), float(frac)))
            except ValueError as exc:
                raise InvalidInput(f"bad ladder step {part!r}: {exc}", field="ladder") from exc
        return cls(tuple(steps))

    def next_step(self, done: int) -> LadderStep | None:
        """The step after the first ``done`` steps, or None at the top of the ladder."""
        return self.steps[done] if done < len(self.steps) else None

    def step_due_at(self, cal: WorkingCalendar, clock: Clock, done: int) -> datetime | None:
        step = self.next_step(done)
        if step is None:
            return None
        return moment_at_fraction(cal, clock.start, clock.due, clock.unit, step.fraction)

    def overdue_index(self) -> int:
        """Steps at or beyond this index are past the deadline (fraction ≥ 1)."""
        return next((i for i, s in enumerate(self.steps) if s.fraction >= 1.0), len(self.steps))
