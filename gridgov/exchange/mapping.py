"""The mapping file: how one source system's records become ledger cases (docs/exchange.md).

Validated with pydantic when loaded, then against the catalogue (every code it maps to must
exist), so a wrong mapping fails before a single row is read, naming the field at fault.
"""

from __future__ import annotations

import codecs
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from gridgov.domain.calendar import OfficeHours, WorkingCalendar
from gridgov.domain.commands import first_error
from gridgov.domain.enums import Source, TerritoryKind
from gridgov.domain.errors import InvalidInput
from gridgov.item_catalog.holidays import load_holidays
from gridgov.item_catalog.loader import Catalog

ImportStatus = Literal["reported", "dispatched", "handled", "closed", "cancelled"]
OPEN_TARGETS: frozenset[str] = frozenset({"reported", "dispatched", "handled"})
# Which end-of-case time each status needs: handled needs ``handled``, closed/cancelled ``closed``.
NEEDS_END = frozenset({"closed", "cancelled"})
SourceSystem = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Column = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Canonical fields a source column can feed, in the order readers hand them on.
FIELDS = (
    "id",
    "created",
    "closed",
    "handled",
    "deadline",
    "status",
    "department",
    "type",
    "community",
    "grid",
    "channel",
    "reporter",
    "description",
    "building",
    "lat",
    "lon",
)
TIME_FIELDS = ("created", "closed", "handled", "deadline")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Strict):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"  # any Python codec: gbk, gb18030, utf-8-sig (BOM) …
    quotechar: str = Field(default='"', min_length=1, max_length=1)

    @model_validator(mode="after")
    def _codec(self) -> Self:
        try:
            codecs.lookup(self.encoding)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {self.encoding!r}") from exc
        return self


class Open311Options(_Strict):
    """A GeoReport v2 server: ``GET {base_url}/requests.json`` by date window."""

    jurisdiction_id: str | None = None
    start: datetime | None = None  # the CLI's --since/--until override these
    end: datetime | None = None
    window_days: float = Field(default=7, gt=0, le=90)  # the spec caps a query at 90 days
    # The server's cap per response (spec default 1000): a full response may be truncated,
    # so the window is halved and asked again.
    max_per_response: int = Field(default=1000, ge=1, le=100_000)
    paging: Literal["window", "page"] = "window"
    page_size: int = Field(default=100, ge=1, le=10_000)  # ``page`` mode only
    min_window_seconds: int = Field(default=1, ge=1)
    timeout_seconds: float = Field(default=30, gt=0)


class Columns(_Strict):
    """Source column (CSV header, JSON key, dotted path for nested JSON) for each field."""

    id: Column
    created: Column
    status: Column
    type: Column
    closed: Column | None = None
    handled: Column | None = None
    deadline: Column | None = None
    department: Column | None = None
    community: Column | None = None
    grid: Column | None = None
    channel: Column | None = None
    reporter: Column | None = None
    description: Column | None = None
    building: Column | None = None
    lat: Column | None = None
    lon: Column | None = None

    def used(self) -> dict[str, str]:
        """field → source column, for the fields this source has."""
        return {f: c for f in FIELDS if (c := getattr(self, f)) is not None}


class ValueMap(_Strict):
    """Source value → our code; ``default`` catches values not in the table (None: reject)."""

    values: dict[str, str] = Field(default_factory=dict)
    default: str | None = None

    def codes(self) -> list[tuple[str, str]]:
        pairs = [(f"values.{k}", v) for k, v in self.values.items()]
        return pairs + ([("default", self.default)] if self.default is not None else [])


class StatusMap(_Strict):
    values: dict[str, ImportStatus]
    default: ImportStatus | None = None


class CalendarSpec(_Strict):
    """The working-time calendar the history was recorded under (docs/exchange.md).

    Deadlines of imported cases are computed with it instead of the ledger's: a history from
    another place brings its own holidays and office hours and is never assumed Chinese.
    """

    holidays_file: str | None = None  # operator-format holiday file, relative to the mapping
    chinese_holidays: bool = True  # False: Monday–Friday plus the file's years only
    office_hours: str | None = None  # e.g. "09:00-17:00"; default: the ledger's

    @model_validator(mode="after")
    def _hours(self) -> Self:
        if self.office_hours is not None:
            OfficeHours.parse(self.office_hours)  # ValueError names the bad period
        return self


class Mapping(_Strict):
    source_system: SourceSystem
    format: Literal["csv", "jsonl", "open311"] = "csv"
    csv: CsvOptions = CsvOptions()
    open311: Open311Options = Open311Options()
    timezone: str = "Asia/Shanghai"  # of naive times in the source
    date_format: str = "iso"  # "iso" or a strptime format, e.g. "%Y/%m/%d %H:%M"
    date_formats: dict[Literal["created", "closed", "handled", "deadline"], str] = Field(
        default_factory=dict
    )
    columns: Columns
    status: StatusMap
    types: ValueMap  # → item codes; ``default`` is the catch-all item
    departments: ValueMap = ValueMap()  # → department codes; empty value: the item's default
    communities: ValueMap = ValueMap()  # a value that is already a community code passes
    grids: ValueMap = ValueMap()  # a value that is already a grid code passes
    channels: ValueMap = ValueMap(default=Source.HOTLINE.value)  # → patrol, citizen, hotline…
    reporter: str = Field(default="", max_length=120)  # default: "import:<source_system>"
    calendar: CalendarSpec | None = None  # None: the ledger's calendar
    # Keep the source's columns that no field maps (CSV columns, top-level JSON keys) as the
    # case's ``attributes`` (JSON), searchable through the API and exported back.
    keep_unmapped: bool = False
    # Employee-logged fixes close a case seconds before it was opened: within this many
    # seconds an end time before the start is clamped to it and counted, beyond it rejected.
    clock_skew_seconds: float = Field(default=300, ge=0, le=86_400)
    # A local time in a daylight-saving fall-back hour happens twice: which one it means.
    ambiguous_times: Literal["earlier", "later", "reject"] = "reject"
    # A row without a deadline (empty cell, or no deadline column): the item's handling limit
    # from the created time ("catalog"), or no handling deadline at all ("none": the source
    # set none, so the case is never overdue and is assessed as its own group).
    missing_deadline: Literal["catalog", "none"] = "catalog"
    # The prefix of a source catalogue (``sources/*.yaml`` in the catalogue directory): a type,
    # department or place value the value tables do not map is looked up as the source's own
    # code ``<PREFIX>:<value>`` (docs/catalogue.md, "Source catalogues").
    own_codes: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{0,7}$")] | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone: unknown zone {self.timezone!r}") from exc
        no_place = self.columns.community is None and self.columns.grid is None
        if no_place and self.communities.default is None:
            raise ValueError("columns: map community or grid, or give communities.default")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def actor(self) -> str:
        return f"import:{self.source_system}"

    def working_calendar(
        self, ledger: WorkingCalendar, *, allow_other_zone: bool
    ) -> WorkingCalendar:
        """The calendar this history's deadlines are counted with.

        A zone other than the ledger's is refused unless ``allow_other_zone``: assessing with
        the wrong zone moves cases between days and months without any warning.
        """
        if self.timezone != ledger.tz.key and not allow_other_zone:
            raise InvalidInput(
                f"mapping timezone {self.timezone!r} disagrees with the ledger's zone "
                f"{ledger.tz.key!r} (GRIDGOV_TIMEZONE): day boundaries, office hours and the "
                "month an event counts in would differ. Fix one of them, or confirm the source "
                "really recorded local times in this zone (--allow-other-zone)",
                field="timezone",
            )
        spec = self.calendar
        if spec is None:
            return ledger if self.timezone == ledger.tz.key else ledger.for_zone(self.timezone)
        table = None
        if spec.holidays_file is not None:
            table = load_holidays(Path(spec.holidays_file))
        hours = OfficeHours.parse(spec.office_hours) if spec.office_hours else ledger.office_hours
        return WorkingCalendar(self.timezone, hours, holidays=table, library=spec.chinese_holidays)

    def date_format_of(self, field: str) -> str:
        formats = {str(k): v for k, v in self.date_formats.items()}
        return formats.get(field, self.date_format)

    def check_codes(self, catalog: Catalog) -> None:
        """Every code the mapping names exists in the catalogue; InvalidInput otherwise."""
        sources = {s.value for s in Source}
        grids = {u.code for u in catalog.units(TerritoryKind.GRID)}
        communities = {u.code for u in catalog.units(TerritoryKind.COMMUNITY)}
        checks: list[tuple[str, ValueMap, set[str], str]] = [
            ("types", self.types, set(catalog.codes), "item code"),
            ("departments", self.departments, set(catalog.departments), "department"),
            ("communities", self.communities, communities, "community"),
            ("grids", self.grids, grids, "grid"),
            ("channels", self.channels, sources, "channel"),
        ]
        if self.own_codes is not None:
            mine = f"{self.own_codes}:"
            if not any(c.startswith(mine) for c in catalog.codes):
                raise InvalidInput(
                    f"own_codes: no source catalogue with prefix {self.own_codes!r} in "
                    f"{catalog.source}/sources/ (its file declares `prefix: {self.own_codes}`)",
                    field="own_codes",
                )
        for name, table, known, what in checks:
            for where, code in table.codes():
                if code not in known:
                    raise InvalidInput(
                        f"{name}.{where}: unknown {what} {code!r}", field=f"{name}.{where}"
                    )


def parse_mapping(data: object, where: str = "mapping") -> Mapping:
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        err = first_error(exc)
        raise InvalidInput(f"{where}: {err.message}", field=err.field) from exc


def load_mapping(path: Path, catalog: Catalog | None = None) -> Mapping:
    """Read and validate a mapping file (and its codes, given the catalogue)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"mapping {path}: cannot read: {exc}", field="mapping") from exc
    mapping = parse_mapping(data, str(path))
    spec = mapping.calendar
    if spec is not None and spec.holidays_file is not None:
        where = Path(path).parent / spec.holidays_file
        if not where.is_file():
            raise InvalidInput(
                f"mapping {path}: calendar.holidays_file {where} does not exist",
                field="calendar.holidays_file",
            )
        resolved = spec.model_copy(update={"holidays_file": str(where)})
        mapping = mapping.model_copy(update={"calendar": resolved})
    if catalog is not None:
        mapping.check_codes(catalog)
    return mapping
