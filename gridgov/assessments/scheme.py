"""Assessment schemes: which metrics count, how much, and where the flags go (YAML files).

A scheme names, per level (department, community, grid, street, staff), weighted criteria.
Each criterion maps a metric linearly onto its weight: ``zero_at`` earns nothing, ``full_at``
earns the whole weight (either may be the larger, so "lower is better" needs no flag).
Shipped schemes live in ``schemes/``; any YAML file path works too. A bad file is refused with
an error naming the file and the field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from gridgov.assessments.kpi import LEVELS
from gridgov.domain.errors import InvalidInput

SCHEMES_DIR = Path(__file__).parent / "schemes"
STAFF_METRICS = (
    "actions",
    "cases",
    "reported",
    "field_fixes",
    "handled",
    "handled_due",
    "on_time_closure_rate",
    "overdue_rate",
    "rework_rate",
    "satisfaction_rate",
)
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Criterion(_Strict):
    metric: Text
    label: Text | None = None  # e.g. 结案率
    weight: float = Field(gt=0, le=1000)
    full_at: float  # the value that earns the whole weight
    zero_at: float  # the value that earns nothing

    @model_validator(mode="after")
    def _distinct(self) -> Criterion:
        if not (math.isfinite(self.full_at) and math.isfinite(self.zero_at)):
            raise ValueError("full_at and zero_at must be finite")
        if self.full_at == self.zero_at:
            raise ValueError("full_at and zero_at must differ")
        return self


class Flags(_Strict):
    red_below: float = Field(ge=0, le=100)  # score below this: red flag
    yellow_below: float = Field(ge=0, le=100)  # below this (and not red): yellow
    min_volume: int = Field(default=1, ge=0)  # fewer cases than this: not ranked or flagged
    volume: Text = "due"  # the count ``min_volume`` applies to

    @model_validator(mode="after")
    def _ordered(self) -> Flags:
        if self.red_below > self.yellow_below:
            raise ValueError("red_below must not exceed yellow_below")
        return self


class LevelScheme(_Strict):
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    flags: Flags


class StaffScheme(LevelScheme):
    """Sunk staff (下沉人员): ``local_share`` of the score comes from their community and
    grid, ``street_share`` from the street's scoring of their own record."""

    local_share: float = Field(default=0.7, ge=0, le=1)
    street_share: float = Field(default=0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _shares(self) -> StaffScheme:
        if abs(self.local_share + self.street_share - 1) > 1e-9:
            raise ValueError("local_share + street_share must be 1")
        return self


class Scheme(_Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
    title: Text
    description: str = ""
    department: LevelScheme
    community: LevelScheme
    grid: LevelScheme
    street: LevelScheme
    staff: StaffScheme

    def level(self, name: str) -> LevelScheme:
        scheme: LevelScheme = getattr(self, name)
        return scheme


def allowed_metrics(level: str) -> tuple[str, ...]:
    if level == "staff":
        return STAFF_METRICS
    return LEVELS[level].metrics()


def _check_metrics(scheme: Scheme) -> None:
    """Metric names exist for their level (pydantic checks the shape, this the meaning)."""
    for level in ("department", "community", "grid", "street", "staff"):
        allowed = allowed_metrics(level)
        ls = scheme.level(level)
        seen: set[str] = set()
        for i, c in enumerate(ls.criteria):
            where = f"{level}.criteria.{i}.metric"
            if c.metric not in allowed:
                raise InvalidInput(
                    f"unknown metric {c.metric!r} for {level}; known: {', '.join(allowed)}",
                    field=where,
                )
            if c.metric in seen:
                raise InvalidInput(f"metric {c.metric!r} is listed twice", field=where)
            seen.add(c.metric)
        if ls.flags.volume not in allowed:
            raise InvalidInput(
                f"unknown volume count {ls.flags.volume!r} for {level}",
                field=f"{level}.flags.volume",
            )


def shipped() -> list[str]:
    return sorted(p.stem for p in SCHEMES_DIR.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    """A shipped scheme by name (``default``, ``fenghuang``) or a YAML file path."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        if not candidate.is_file():
            raise InvalidInput(f"scheme file {candidate} does not exist", field="scheme")
        return candidate
    path = SCHEMES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise InvalidInput(
            f"unknown scheme {name_or_path!r}; shipped: {', '.join(shipped())} "
            "(or give a YAML file path)",
            field="scheme",
        )
    return path


def load_scheme(name_or_path: str = "default") -> Scheme:
    path = resolve(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}", field="scheme") from exc
    try:
        scheme = Scheme.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "scheme"
        raise InvalidInput(f"{path}: {loc}: {err['msg']}", field=loc) from exc
    try:
        _check_metrics(scheme)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.field}: {exc.message}", field=exc.field) from exc
    return scheme
