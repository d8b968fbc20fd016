"""Neighbour and property disputes (矛盾纠纷): a three-level warning. Pure rules.

Three factors score 0, 1 or 2:

| factor | 0 | 1 | 2 |
|---|---|---|---|
| people involved | ≤ 4 (two households) | 5–29 | ≥ 30 (群体性) |
| money at stake | < ¥10,000 | ¥10,000–99,999 | ≥ ¥100,000 |
| urgency | normal | pressing (升级苗头: threats) | urgent (激化: violence imminent) |

* **level 3 重大 (red)**: urgency is urgent, or a factor scores 2 and the total is ≥ 3;
* **level 2 较大 (orange)**: the total is ≥ 2, or any factor scores 2;
* **level 1 一般 (yellow)**: otherwise.

The level sets the tier and the clocks by choosing the catalogue item the case is opened as
(the catalogue is where deadlines live, and auditors check cases against it):

| level | tier | neighbour | property | acknowledge / on site / handle |
|---|---|---|---|---|
| 1 | 2 community mediation | SH-JF-001 | SH-JF-004 | 2 wh / – / 5 resp. 3 wd |
| 2 | 3 department (司法所 / 住建) | SH-JF-002 | SH-JF-003 | 1 wh / 4 wh, 2 wd / 15, 10 wd |
| 3 | 3 stability risk (信访局), urgent | SH-XF-001 | SH-XF-001 | 30 min / 2 h / 3 wd |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from gridgov.domain.enums import Tier
from gridgov.domain.errors import InvalidInput


class DisputeKind(StrEnum):
    NEIGHBOUR = "neighbour"  # 邻里纠纷
    PROPERTY = "property"  # 物业纠纷


class Urgency(StrEnum):
    NORMAL = "normal"
    PRESSING = "pressing"  # 升级苗头
    URGENT = "urgent"  # 激化


class WarningLevel(IntEnum):
    GENERAL = 1  # 一般 (yellow)
    SERIOUS = 2  # 较大 (orange)
    MAJOR = 3  # 重大 (red)


ITEMS: dict[tuple[DisputeKind, WarningLevel], str] = {
    (DisputeKind.NEIGHBOUR, WarningLevel.GENERAL): "SH-JF-001",
    (DisputeKind.NEIGHBOUR, WarningLevel.SERIOUS): "SH-JF-002",
    (DisputeKind.NEIGHBOUR, WarningLevel.MAJOR): "SH-XF-001",
    (DisputeKind.PROPERTY, WarningLevel.GENERAL): "SH-JF-004",
    (DisputeKind.PROPERTY, WarningLevel.SERIOUS): "SH-JF-003",
    (DisputeKind.PROPERTY, WarningLevel.MAJOR): "SH-XF-001",
}
TIERS = {
    WarningLevel.GENERAL: Tier.COMMUNITY,
    WarningLevel.SERIOUS: Tier.DEPARTMENT,
    WarningLevel.MAJOR: Tier.DEPARTMENT,
}


@dataclass(frozen=True, slots=True)
class DisputeWarning:
    level: WarningLevel
    tier: Tier
    item_code: str
    scores: tuple[int, int, int]  # people, money, urgency
    reasons: tuple[str, ...]


def _people(n: int) -> int:
    return 0 if n <= 4 else 1 if n < 30 else 2


def _money(yuan: float) -> int:
    return 0 if yuan < 10_000 else 1 if yuan < 100_000 else 2


def assess(kind: DisputeKind, people: int, urgency: Urgency, amount_yuan: float) -> DisputeWarning:
    """The warning level of a dispute and the item (tier, clocks) it is handled as."""
    if people < 2:
        raise InvalidInput("a dispute involves at least two people", field="people")
    if amount_yuan < 0:
        raise InvalidInput("amount must be ≥ 0", field="amount_yuan")
    scores = (_people(people), _money(amount_yuan), list(Urgency).index(urgency))
    total = sum(scores)
    if urgency == Urgency.URGENT or (max(scores) == 2 and total >= 3):
        level = WarningLevel.MAJOR
    elif total >= 2 or max(scores) == 2:
        level = WarningLevel.SERIOUS
    else:
        level = WarningLevel.GENERAL
    names = ("people", "money", "urgency")
    reasons = tuple(f"{n} {s}" for n, s in zip(names, scores, strict=True) if s)
    return DisputeWarning(level, TIERS[level], ITEMS[(kind, level)], scores, reasons)
