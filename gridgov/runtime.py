"""Wiring: settings → engine, catalogue, calendar, case book. One place, used by CLI/API/flows."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine

from gridgov.domain.calendar import OfficeHours, WorkingCalendar
from gridgov.domain.deadlines import Ladder
from gridgov.item_catalog.holidays import holidays_for
from gridgov.item_catalog.loader import Catalog, load_catalog
from gridgov.ledger.casebook import CaseBook
from gridgov.ledger.catalog_store import SyncReport, sync_catalog
from gridgov.ledger.db import make_engine, migrate, transaction
from gridgov.ledger.zone import check_zone, record_zone
from gridgov.settings import Settings, get_settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    catalog: Catalog
    calendar: WorkingCalendar
    book: CaseBook

    def init_ledger(self) -> SyncReport:
        """Create/upgrade the schema and load the catalogue into it (idempotent)."""
        migrate(self.engine)
        with transaction(self.book.factory) as s:
            record_zone(s, self.calendar.tz.key)
            return sync_catalog(s, self.catalog)

    def check_zone(self) -> None:
        """Refuse to work on a ledger recorded in another zone (InvalidInput, field timezone)."""
        check_zone(self.engine, self.calendar.tz.key)


def build_runtime(settings: Settings | None = None, catalog: Catalog | None = None) -> Runtime:
    settings = settings or get_settings()
    engine = make_engine(settings.ledger_url)
    catalog = catalog or load_catalog(settings.catalog_dir)
    calendar = WorkingCalendar(
        settings.timezone,
        OfficeHours.parse(settings.office_hours),
        holidays=holidays_for(catalog.source, settings.holidays_file),
    )
    book = CaseBook(engine, catalog, calendar, Ladder.parse(settings.ladder))
    return Runtime(settings, engine, catalog, calendar, book)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog(get_settings().catalog_dir)


@lru_cache(maxsize=1)
def default_runtime() -> Runtime:
    """The process-wide runtime from the environment (flows and the API use it)."""
    return build_runtime(catalog=default_catalog())


def reset_runtime() -> None:
    """Forget cached settings/catalogue/runtime (after changing GRIDGOV_* in-process)."""
    get_settings.cache_clear()
    default_catalog.cache_clear()
    default_runtime.cache_clear()
