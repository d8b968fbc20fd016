"""The assessment period: a local calendar month, quarter (季度) or year (年度) — Asia/Shanghai
by default — as a UTC window. The counting rules only read the window's start and cutoff, so
a quarter is counted exactly as a month is (docs/assessment.md, "Periods")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gridgov.domain.errors import InvalidInput

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])", re.IGNORECASE)
_YEAR = re.compile(r"(\d{4})")


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


@dataclass(frozen=True, order=True)
class Quarter:
    """季度: three local months, ``2026-Q4`` = October to December 2026."""

    year: int
    quarter: int

    def __post_init__(self) -> None:
        if not 1 <= self.quarter <= 4 or not 2000 <= self.year <= 2100:
            raise InvalidInput(f"quarter {self.label!r} is not a quarter", field="period")

    @property
    def label(self) -> str:
        return f"{self.year:04d}-Q{self.quarter}"

    @property
    def first(self) -> Month:
        return Month(self.year, 3 * self.quarter - 2)

    def months(self) -> list[Month]:
        m = self.first
        return [m, m.next(), m.next().next()]

    def start(self, tz: ZoneInfo) -> datetime:
        return self.first.start(tz)

    def end(self, tz: ZoneInfo) -> datetime:
        return self.months()[-1].end(tz)


@dataclass(frozen=True, order=True)
class Year:
    """年度: the local calendar year."""

    year: int

    def __post_init__(self) -> None:
        if not 2000 <= self.year <= 2100:
            raise InvalidInput(f"year {self.year} is not between 2000 and 2100", field="period")

    @property
    def label(self) -> str:
        return f"{self.year:04d}"

    def months(self) -> list[Month]:
        return [Month(self.year, m) for m in range(1, 13)]

    def start(self, tz: ZoneInfo) -> datetime:
        return Month(self.year, 1).start(tz)

    def end(self, tz: ZoneInfo) -> datetime:
        return Month(self.year, 12).end(tz)


Period = Month | Quarter | Year


def parse_period(text: str) -> Period:
    """``2026-10`` (month), ``2026-Q4`` (quarter) or ``2026`` (year); InvalidInput otherwise."""
    t = text.strip()
    if m := _QUARTER.fullmatch(t):
        return Quarter(int(m.group(1)), int(m.group(2)))
    if m := _YEAR.fullmatch(t):
        return Year(int(m.group(1)))
    if _MONTH.fullmatch(t):
        return Month.parse(t)
    raise InvalidInput(f"period {text!r} is not YYYY-MM, YYYY-Qn or YYYY", field="period")


def months_of(period: Period) -> list[Month]:
    return [period] if isinstance(period, Month) else period.months()


@dataclass(frozen=True)
class Window:
    """What one assessment looks at: ``[start, end)`` is the month, ``cutoff`` the "as of"
    moment (the month's end, or now while the month is still running)."""

    month: Period  # a month, quarter or year (the name stays: most windows are months)
    tz: ZoneInfo
    start: datetime
    end: datetime
    cutoff: datetime

    @classmethod
    def of(cls, month: Period, tz: ZoneInfo, now: datetime | None = None) -> Window:
        start, end = month.start(tz), month.end(tz)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        if now <= start:
            raise InvalidInput(
                f"{_noun(month)} {month.label} has not started yet",
                field="month" if isinstance(month, Month) else "period",
            )
        return cls(month, tz, start, end, min(end, now))

    @property
    def complete(self) -> bool:
        return self.cutoff == self.end


def _noun(p: Period) -> str:
    return "month" if isinstance(p, Month) else "quarter" if isinstance(p, Quarter) else "year"
