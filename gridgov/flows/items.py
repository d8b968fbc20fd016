"""Module-level flows, one per item code in the catalogue (``item_sj_sr_001`` …).

``serve()`` and workers re-import flows by entrypoint (``gridgov/flows/items.py:<name>``),
so every factory-built flow must be an attribute of this module.
"""

from __future__ import annotations

from gridgov.flows.casework import ItemFlow, build_item_flow, function_name
from gridgov.runtime import default_catalog

ITEM_FLOWS: dict[str, ItemFlow] = {}

for _item in default_catalog().latest():
    _flow = build_item_flow(_item)
    ITEM_FLOWS[_item.code] = _flow
    globals()[function_name(_item.code)] = _flow


def item_flow(code: str) -> ItemFlow:
    return ITEM_FLOWS[code]
