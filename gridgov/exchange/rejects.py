"""Rows that could not be imported: why (a reason code and the field), and the reject file."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Reason(StrEnum):
    MISSING_VALUE = "missing_value"  # a required value is empty
    BAD_DATE = "bad_date"  # not a date in the mapping's date format
    BAD_NUMBER = "bad_number"  # lat / lon not a number in range
    TOO_LONG = "too_long"  # source id longer than 128 characters
    IN_FUTURE = "in_future"  # a time after the import
    CLOSED_BEFORE_CREATED = "closed_before_created"
    TIMES_OUT_OF_ORDER = "times_out_of_order"  # handled before created, closed before handled …
    UNKNOWN_STATUS = "unknown_status"  # not in the status table and no default
    UNKNOWN_TYPE = "unknown_type"  # not in the type table, not an item code, no catch-all
    ITEM_NOT_IN_FORCE = "item_not_in_force"  # the item has no version on the created date
    UNKNOWN_DEPARTMENT = "unknown_department"  # not in the table, not a code, no default
    UNKNOWN_PLACE = "unknown_place"  # community / grid unknown, or the grid is elsewhere
    DUPLICATE_ID = "duplicate_id"  # the same id twice in the file with different data
    CONFLICTING_UPDATE = "conflicting_update"  # a change that no new event can express
    UNREADABLE = "unreadable"  # a JSON line that is not a JSON object


@dataclass(frozen=True)
class Reject:
    line: int
    source_id: str
    field: str
    reason: Reason
    detail: str


HEADER = ("line", "source_id", "field", "reason", "detail")


class RejectFile:
    """Writes rejects as they come (UTF-8 CSV) and counts them by reason."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self._fh = None
        self._writer = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow(HEADER)

    def add(self, rejects: list[Reject]) -> None:
        for r in rejects:
            self.counts[r.reason.value] += 1
        if self._writer is not None:
            self._writer.writerows(
                (r.line, r.source_id, r.field, r.reason.value, r.detail) for r in rejects
            )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())
