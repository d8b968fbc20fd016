"""Report a neighbour or property dispute: its warning level picks the item it is opened as.

``dispute_case`` grades the dispute (``domain.disputes.assess``) and returns the ``NewCase``
for the case book or ``Launcher`` — the item of the level, so the catalogue sets the tier and
the clocks — with the level and its reasons at the head of the description.
"""

from __future__ import annotations

from gridgov.domain.commands import NewCase
from gridgov.domain.disputes import DisputeKind, DisputeWarning, Urgency, assess
from gridgov.domain.enums import Source


def dispute_case(
    kind: DisputeKind,
    people: int,
    urgency: Urgency,
    amount_yuan: float,
    *,
    community: str,
    grid: str | None,
    reporter: str,
    source: Source = Source.PATROL,
    description: str = "",
) -> tuple[NewCase, DisputeWarning]:
    warning = assess(kind, people, urgency, amount_yuan)
    why = ", ".join(warning.reasons) or "no aggravating factor"
    head = f"[{kind.value} dispute, level {int(warning.level)}: {why}]"
    new = NewCase(
        item_code=warning.item_code,
        community=community,
        grid=grid,
        source=source,
        reporter=reporter,
        description=f"{head} {description}".strip()[:4000],
    )
    return new, warning
