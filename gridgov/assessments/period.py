"""The assessment month: a local calendar month (Asia/Shanghai by default) as a UTC window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gridgov.domain.errors import InvalidInput

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 2000 <= self.year <= 2100:
            raise InvalidInput(
                f"month {self.label!r} is not a month between 2000 and 2100", field="month"
            )

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-10"``; InvalidInput naming the field otherwise."""
        m = _MONTH.fullmatch(text.strip())
        if m is None:
            raise InvalidInput(f"month {text!r} is not YYYY-MM", field="month")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def previous(cls, now: datetime, tz: ZoneInfo) -> Month:
        """The last complete month before ``now`` (local), the default for monthly runs."""
        local = now.astimezone(tz)
        return cls(local.year - 1, 12) if local.month == 1 else cls(local.year, local.month - 1)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def start(self, tz: ZoneInfo) -> datetime:
        """First instant of the local month, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=tz).astimezone(UTC)

    def end(self, tz: ZoneInfo) -> datetime:
        """First instant after the local month (exclusive), in UTC."""
        return self.next().start(tz)


@dataclass(frozen=True)
class Window:
    """What one assessment looks at: ``[start, end)`` is the month, ``cutoff`` the "as of"
    moment (the month's end, or now while the month is still running)."""

    month: Month
    tz: ZoneInfo
    start: datetime
    end: datetime
    cutoff: datetime

    @classmethod
    def of(cls, month: Month, tz: ZoneInfo, now: datetime | None = None) -> Window:
        start, end = month.start(tz), month.end(tz)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        if now <= start:
            raise InvalidInput(f"month {month.label} has not started yet", field="month")
        return cls(month, tz, start, end, min(end, now))

    @property
    def complete(self) -> bool:
        return self.cutoff == self.end
