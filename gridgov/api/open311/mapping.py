"""Catalogue items as Open311 services, and cases as Open311 service requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridgov.domain.enums import CaseStatus, Source
from gridgov.domain.lifecycle import COMMUNITY_UNIT
from gridgov.domain.privacy import coarse, mask_personal, public_url
from gridgov.item_catalog.loader import Catalog
from gridgov.item_catalog.models import Item
from gridgov.ledger.models import Case

PUBLIC_SOURCES = (Source.CITIZEN.value, Source.HOTLINE.value)

# Extension attributes every service accepts (see docs/api.md): none is required, so
# services report ``metadata: false`` and clients that never fetch definitions still work.
ATTRIBUTES: list[dict[str, Any]] = [
    {
        "variable": True,
        "code": "grid",
        "datatype": "string",
        "required": False,
        "datatype_description": "grid code, e.g. from the QR code on the building",
        "order": 1,
        "description": "网格 grid of the problem (takes precedence over lat/long)",
    },
    {
        "variable": True,
        "code": "community",
        "datatype": "string",
        "required": False,
        "datatype_description": "community code",
        "order": 2,
        "description": "社区 community of the problem, when the grid is not known",
    },
]


def citizen_services(catalog: Catalog, day: Any) -> list[Item]:
    """Items in force that citizens may report, by code."""
    return sorted(
        (i for i in catalog.in_force(day) if Source.CITIZEN in i.sources), key=lambda i: i.code
    )


def service_notice(item: Item) -> str:
    h = item.deadlines.handle
    limit = f"处置时限 {h}" if h is not None else "无处置时限 (no handling deadline)"
    return f"{limit}; {item.closing_condition}"


def service(item: Item) -> dict[str, Any]:
    return {
        "service_code": item.code,
        "service_name": item.name_zh,
        "description": f"{item.name_en}. {item.filing_condition}",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(item.keywords),
        "group": item.category,
    }


def definition(item: Item) -> dict[str, Any]:
    return {"service_code": item.code, "attributes": ATTRIBUTES}


def iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO-8601 with the jurisdiction's offset, e.g. ``2026-11-23T09:00:00+08:00``."""
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def agency(catalog: Catalog, case: Case) -> str:
    if case.assignee == COMMUNITY_UNIT:
        unit = catalog.territory.get(case.community_code)
        return f"{unit.name_zh} ({unit.name_en})" if unit else case.community_code
    dept = catalog.departments.get(case.assignee)
    return f"{dept.name_zh} ({dept.name_en})" if dept else case.assignee


def is_closed(status: str) -> bool:
    return not CaseStatus(status).is_open


def request(
    catalog: Catalog, case: Case, tz: ZoneInfo, decimals: int | None = None
) -> dict[str, Any]:
    """The public view of a case: personal information masked, coordinates rounded to
    ``decimals``, only http(s) media (:mod:`gridgov.domain.privacy`)."""
    closed = is_closed(case.status)
    updated = case.closed_at if closed and case.closed_at else case.updated_at
    item = catalog.version(case.item_code, case.item_version)
    return {
        "service_request_id": case.case_no,
        "status": "closed" if closed else "open",
        "status_notes": case.status,
        "service_name": case.item_name,
        "service_code": case.item_code,
        "description": mask_personal(case.description),
        "agency_responsible": agency(catalog, case),
        "service_notice": service_notice(item),
        "requested_datetime": iso(case.opened_at, tz),
        "updated_datetime": iso(updated, tz),
        "expected_datetime": iso(case.handle_due, tz),
        "address": mask_personal(case.building) if case.building else None,
        "address_id": case.grid_code,
        "zipcode": None,
        "lat": coarse(case.lat, decimals),
        "long": coarse(case.lon, decimals),
        "media_url": public_url(case.media[0] if case.media else None),
    }
