"""Headline outcomes of a simulated (or real) ledger, as the reports state them.

* **resolution** (办结率): closed ÷ cases due to be closed — those whose handling deadline
  passed at least ``grace`` before ``until``, or that closed anyway (the assessment's 结案率
  with a day's grace, as a monthly assessment is run after the month ends);
* **satisfaction** (满意率): (satisfied + basically satisfied) ÷ callbacks (every rating);
* on-time closure, overdue share, and the citizen clock per stage.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from gridgov.intake.clock_check import citizen_clock_summary
from gridgov.ledger.models import Case, CaseEvent


@dataclass
class Outcomes:
    cases: int
    by_source: dict[str, int]
    due: int
    closed_due: int
    closed_on_time: int
    overdue: int
    ratings: Counter[str]
    citizen_clock: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def resolution_rate(self) -> float:
        return self.closed_due / self.due if self.due else float("nan")

    @property
    def on_time_rate(self) -> float:
        return self.closed_on_time / self.due if self.due else float("nan")

    @property
    def satisfaction_rate(self) -> float:
        rated = sum(self.ratings.values())
        ok = self.ratings["satisfied"] + self.ratings["basically_satisfied"]
        return ok / rated if rated else float("nan")


def outcomes(
    engine: Engine, since: datetime, until: datetime, grace: timedelta = timedelta(days=1)
) -> Outcomes:
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    cutoff = until - grace
    in_run = (Case.opened_at >= since) & (Case.opened_at < until)
    with engine.connect() as conn:
        by_source: dict[str, int] = dict(
            conn.execute(select(Case.source, func.count()).where(in_run).group_by(Case.source))
            .tuples()
            .all()
        )
        rows = conn.execute(
            select(
                Case.status, Case.handle_due, Case.handled_at, Case.closed_at, Case.overdue
            ).where(in_run)
        ).all()
        ratings: Counter[str] = Counter()
        q = (
            select(CaseEvent.payload)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(in_run, CaseEvent.kind == "rated")
        )
        for (payload,) in conn.execute(q):
            data = json.loads(payload) if isinstance(payload, str) else payload
            ratings[str(data.get("rating"))] += 1
    due = closed = on_time = overdue = 0
    for status, handle_due, handled_at, closed_at, late in rows:
        is_closed = status == "closed" and closed_at is not None and closed_at <= until
        if not is_closed and (handle_due is None or handle_due > cutoff):
            continue
        due += 1
        closed += is_closed
        on_time += bool(
            is_closed
            and handled_at is not None
            and handle_due is not None
            and handled_at <= handle_due
        )
        overdue += bool(late)
    return Outcomes(
        cases=len(rows),
        by_source=by_source,
        due=due,
        closed_due=closed,
        closed_on_time=on_time,
        overdue=overdue,
        ratings=ratings,
        citizen_clock=citizen_clock_summary(engine, since, until),
    )
