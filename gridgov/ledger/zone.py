"""The zone a ledger counts its days, office hours and months in, recorded once at ``init``.

``GRIDGOV_TIMEZONE`` and a mapping's ``timezone`` used to be independent, and assessing with
the wrong zone changed a month's counts silently; the ledger now remembers its zone and every
writer and the assessment refuse a different one (docs/calendar.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from gridgov.domain.errors import InvalidInput
from gridgov.ledger.models import LedgerSetting

KEY = "timezone"


def record_zone(s: Session, zone: str) -> None:
    """Record ``zone`` on a new ledger; refuse when the ledger already has another."""
    row = s.get(LedgerSetting, KEY)
    if row is None:
        s.add(LedgerSetting(key=KEY, value=zone, set_at=datetime.now(UTC)))
        return
    _same(row.value, zone)


def recorded_zone(engine: Engine) -> str | None:
    if not inspect(engine).has_table(LedgerSetting.__tablename__):
        return None
    with Session(engine) as s:
        return s.scalar(select(LedgerSetting.value).where(LedgerSetting.key == KEY))


def check_zone(engine: Engine, zone: str) -> None:
    """InvalidInput when the ledger was set up in a zone other than ``zone``."""
    recorded = recorded_zone(engine)
    if recorded is not None:
        _same(recorded, zone)


def _same(recorded: str, zone: str) -> None:
    if recorded != zone:
        raise InvalidInput(
            f"the ledger counts days in {recorded!r} (recorded at init) but GRIDGOV_TIMEZONE "
            f"is {zone!r}: days, office hours and months would shift. Set "
            f"GRIDGOV_TIMEZONE={recorded}",
            field="timezone",
        )
