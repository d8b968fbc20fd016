"""What a caller's text (and time) may be: the one rule for control characters and years.

Text fields come from citizens, apps and hotline operators; the ledger and the public feeds
serve them back (XML 1.0 cannot carry most control characters at all, and PostgreSQL refuses
NUL). So a text may hold printable characters, tab, line feed and carriage return (browsers
send a textarea's lines as CR LF) — nothing else below U+0020, no DEL/C1 controls, no lone
surrogates (not encodable as UTF-8) and not the noncharacters U+FFFE/U+FFFF. Input with
anything else is refused naming the field (:func:`text_problem`); rows written before this
rule are cleaned when served (:func:`printable`). See docs/api.md, "Hostile input".
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, field_validator

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` may not be stored (the first bad character and where), or None."""
    bad = FORBIDDEN.search(value)
    if bad is None:
        return None
    return f"control character U+{ord(bad.group()):04X} at position {bad.start()} is not allowed"


def printable(value: str) -> str:
    """``value`` without the characters :data:`FORBIDDEN` names (for serving legacy rows)."""
    return FORBIDDEN.sub("", value)


# Times a caller may give: wide enough for any real record, narrow enough that converting
# between offsets (0001-01-01+14:00, 9999-12-31-12:00) can never overflow.
EARLIEST_YEAR, LATEST_YEAR = 1971, 2199


def moment_problem(value: datetime | date) -> str | None:
    if EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        return None
    return f"year {value.year} is outside {EARLIEST_YEAR}–{LATEST_YEAR}"


def find_problem(value: object, where: str = "") -> tuple[str, str] | None:
    """The first ``(path, reason)`` in a JSON-like tree (keys too), e.g.
    ``("fix.evidence[0]", "control character …")``; None when every text is clean."""
    if isinstance(value, str):
        reason = text_problem(value)
        return (where, reason) if reason else None
    if isinstance(value, date):
        reason = moment_problem(value)
        return (where, reason) if reason else None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and (reason := text_problem(key)):
                return (where or "body", f"a field name: {reason}")
            if found := find_problem(item, path):
                return found
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            if found := find_problem(item, f"{where}[{n}]"):
                return found
    return None


class CleanText(BaseModel):
    """Base of every model a caller fills in: each text field (also inside lists and
    dicts) obeys :data:`FORBIDDEN`, whoever writes — gateway, CLI, importer or a flow."""

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        if found := find_problem(value):
            raise ValueError(found[1])
        return value
