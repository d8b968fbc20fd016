"""The synthetic district: the shipped territory (Guangming: 31 communities, 264 grids) plus
what the catalogue does not list — buildings with their QR codes — and what people say.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from gridgov.domain.enums import Source, TerritoryKind, Tier
from gridgov.intake.places import Place, qr_code
from gridgov.item_catalog.loader import Catalog
from gridgov.item_catalog.models import Item, TerritoryUnit

BUILDINGS_PER_GRID = 20  # ~5,000 residents a grid (DOMAIN.md): about 20 residential buildings
OPENERS = ["你好，", "您好，", "麻烦反映一下，", "", "Hi, ", "请问，"]
CLOSERS = ["，麻烦尽快处理。", "，谢谢！", "。", "，已经好几天了。", " please help."]
UNCLEAR = [
    "你好，想反映个问题，麻烦联系我",
    "我有事情需要社区帮忙",
    "请问这个归谁管？",
    "Hello, I need some help with something in my building",
    "想咨询一下办事流程",
]


@dataclass(frozen=True)
class District:
    grids: list[TerritoryUnit]
    buildings: dict[str, list[Place]]  # grid code → its buildings

    @classmethod
    def of(cls, catalog: Catalog) -> District:
        grids = sorted(
            (u for u in catalog.territory.values() if u.kind == TerritoryKind.GRID),
            key=lambda u: u.code,
        )
        buildings = {
            g.code: [
                Place(g.parent or "", g.code, f"{g.code}-B{k:02d}")
                for k in range(1, BUILDINGS_PER_GRID + 1)
            ]
            for g in grids
        }
        return cls(grids, buildings)

    def building(self, rng: random.Random) -> Place:
        return rng.choice(self.buildings[rng.choice(self.grids).code])

    def qr(self, rng: random.Random) -> str:
        return qr_code(self.building(rng))


def items_for(catalog: Catalog, day: date, source: Source, tier: Tier | None = None) -> list[Item]:
    return sorted(
        (
            i
            for i in catalog.in_force(day)
            if source in i.sources and (tier is None or i.tier == tier)
        ),
        key=lambda i: i.code,
    )


def request_text(item: Item | None, rng: random.Random) -> str:
    """What a citizen writes: a keyword of the item in a sentence, or something vague."""
    if item is None or not item.keywords:
        return rng.choice(UNCLEAR)
    return rng.choice(OPENERS) + rng.choice(item.keywords) + rng.choice(CLOSERS)
