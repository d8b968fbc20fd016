"""The citizen clock (书记在线 / 民意速办): the promises made to a citizen. Pure rules.

Counted in natural time from the moment the request was received:

* **notice** — an SMS-style receipt (the outbox's ``received`` notice) within 10 minutes;
* **appointment** — the handler signs for the case (签收) within 30 minutes: signing is when
  the handler calls the citizen to agree a visit;
* **done** — handled (处置完成) within 24 hours;
* **callback** — the satisfaction callback (回访, a ``rated`` event) within 24 hours of the
  review passing; a case closed without one has missed it.

These run beside the catalogue's deadlines (which the 督办 ladder supervises) and are
checked by ``clock_check.check_citizen_clock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Stage(StrEnum):
    NOTICE = "notice"
    APPOINTMENT = "appointment"
    DONE = "done"
    CALLBACK = "callback"


class Standing(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"  # met after its due moment, or not met and already past it
    PENDING = "pending"  # not met, not yet due
    NOT_YET = "not_yet"  # its clock has not started (callback before the review)


@dataclass(frozen=True, slots=True)
class CitizenClockRules:
    notice: timedelta = timedelta(minutes=10)
    appointment: timedelta = timedelta(minutes=30)
    done: timedelta = timedelta(hours=24)
    callback: timedelta = timedelta(hours=24)  # after the review passed


@dataclass(frozen=True, slots=True)
class Progress:
    """When each promise was kept (None: not yet)."""

    received: datetime
    noticed: datetime | None = None
    appointed: datetime | None = None
    done: datetime | None = None
    reviewed: datetime | None = None
    rated: datetime | None = None
    closed: datetime | None = None


def due_at(rules: CitizenClockRules, stage: Stage, p: Progress) -> datetime | None:
    if stage == Stage.CALLBACK:
        return None if p.reviewed is None else p.reviewed + rules.callback
    limit = {Stage.NOTICE: rules.notice, Stage.APPOINTMENT: rules.appointment}.get(
        stage, rules.done
    )
    return p.received + limit


def _met(stage: Stage, p: Progress) -> datetime | None:
    return {
        Stage.NOTICE: p.noticed,
        Stage.APPOINTMENT: p.appointed,
        Stage.DONE: p.done,
        Stage.CALLBACK: p.rated,
    }[stage]


def standing(rules: CitizenClockRules, stage: Stage, p: Progress, now: datetime) -> Standing:
    due = due_at(rules, stage, p)
    if due is None:
        return Standing.NOT_YET
    met = _met(stage, p)
    if stage == Stage.CALLBACK and met is None and p.closed is not None:
        return Standing.LATE  # closed without the callback: it will never come
    if met is not None:
        return Standing.ON_TIME if met <= due else Standing.LATE
    return Standing.LATE if now > due else Standing.PENDING


def breaches(rules: CitizenClockRules, p: Progress, now: datetime) -> list[tuple[Stage, datetime]]:
    """The stages late as of ``now``, with their due moments."""
    out = []
    for stage in Stage:
        if standing(rules, stage, p, now) == Standing.LATE:
            due = due_at(rules, stage, p)
            assert due is not None
            out.append((stage, due))
    return out
