"""Module-level flows, one per item code in the catalogue (``item_sj_sr_001`` …).

``serve()`` and workers re-import flows by entrypoint (``gridgov/flows/items.py:<name>`` or
``gridgov.flows.items.<name>``), so every factory-built flow must be an attribute of this
module. Each is built when first asked for (a module ``__getattr__``), not all ~190 at
import: every item flow run is a process of its own that needs one of them, and building them
all took 6.9 of its 14.9 s of imports at load 10 (``python -X importtime``, 2026-12-08).
"""

from __future__ import annotations

from functools import cache

from gridgov.flows.casework import ItemFlow, build_item_flow, function_name
from gridgov.runtime import default_catalog


@cache
def _codes_by_name() -> dict[str, str]:
    return {function_name(code): code for code in default_catalog().codes}


@cache
def item_flow(code: str) -> ItemFlow:
    """The flow of item ``code`` (its latest version), the same object on every call."""
    return build_item_flow(default_catalog().latest_of(code))


def __getattr__(name: str) -> ItemFlow:
    code = _codes_by_name().get(name)
    if code is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return item_flow(code)
