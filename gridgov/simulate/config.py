"""The simulation's configuration: volumes and how people behave (YAML, pydantic-validated).

Defaults are calibrated to DOMAIN.md for Guangming (31 communities, 264 grids):

* **volumes per day** (at ``scale: 1``): patrol reports 3 per grid (≈ 790; Xiangmihu's
  32,236 events a quarter is ≈ 360 a day for one street); citizen requests 25 (QR/app) +
  10 (hotline) — Guangming's 35,800 in about three years is ≈ 33 a day; AI-camera incidents
  20 (958 cameras; each re-reported 1–3 times, Xiangmihu's AI found 1,523 a quarter); IoT
  incidents 7 (108 a quarter per street × 6 streets).
* **behaviour**: each answer comes after a delay drawn as a *share of the time left on the
  running clock* (log-normal with the given median and sigma; a share above 1 is late), so the
  same profile fits a 30-minute and a 15-day limit. Departments return a few cases (退单),
  ask for extensions, fail some reviews (返工), and a small share stall (no answer within the
  run — the unresolved ≈ 1 %). Citizens rate 94 % satisfied, 4.5 % basically satisfied,
  1.5 % unsatisfied (satisfaction ≈ 98 %, DOMAIN.md).
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gridgov.domain.errors import InvalidInput


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Share(_Strict):
    """A log-normal share of the time left on the clock (median, sigma)."""

    median: float = Field(gt=0, le=10)
    sigma: float = Field(default=0.6, ge=0, le=3)

    def draw(self, rng: random.Random) -> float:
        return self.median * math.exp(rng.gauss(0, self.sigma)) if self.sigma else self.median

    def late_share(self) -> float:
        """P(draw > 1): the share of answers after the deadline."""
        if self.sigma == 0:
            return float(self.median > 1)
        z = math.log(1 / self.median) / self.sigma
        return 0.5 * math.erfc(z / math.sqrt(2))


class Minutes(_Strict):
    """A log-normal delay in natural minutes (median, sigma)."""

    median: float = Field(gt=0, le=100_000)
    sigma: float = Field(default=0.6, ge=0, le=3)

    def draw(self, rng: random.Random) -> float:
        return self.median * math.exp(rng.gauss(0, self.sigma)) if self.sigma else self.median


class Handler(_Strict):
    """How a department (or the community's grid team) answers a case. Citizen and hotline
    cases run on the citizen clock instead: signed (the appointment call) and handled after
    natural-time delays, around the clock (民意速办: respond in 30 min, finish in 24 h)."""

    acknowledge: Share = Share(median=0.25, sigma=0.7)
    citizen_acknowledge: Minutes = Minutes(median=12, sigma=0.7)  # ~10 % after 30 min
    citizen_handle: Minutes = Minutes(median=8 * 60, sigma=0.8)  # ~9 % after 24 h
    arrive: Share = Share(median=0.3, sigma=0.6)
    handle: Share = Share(median=0.4, sigma=0.6)
    return_rate: float = Field(default=0.03, ge=0, le=1)  # 退单 instead of signing
    extension_rate: float = Field(default=0.02, ge=0, le=1)  # ask for more time once
    stall_rate: float = Field(default=0.006, ge=0, le=1)  # never answer within the run


class Dispatcher(_Strict):
    reroute: Minutes = Minutes(median=30, sigma=0.5)
    extension: Minutes = Minutes(median=45, sigma=0.5)
    grant_rate: float = Field(default=0.8, ge=0, le=1)
    classify: Minutes = Minutes(median=15, sigma=0.5)  # a queued citizen request


class Reviewer(_Strict):
    delay: Share = Share(median=0.15, sigma=0.6)
    fail_rate: float = Field(default=0.03, ge=0, le=1)  # 返工


class Citizens(_Strict):
    satisfied: float = Field(default=0.94, ge=0, le=1)
    basically_satisfied: float = Field(default=0.045, ge=0, le=1)
    callback: Minutes = Minutes(median=120, sigma=0.6)  # the 回访 after the review

    @model_validator(mode="after")
    def _shares(self) -> Self:
        if self.satisfied + self.basically_satisfied > 1:
            raise ValueError("satisfied + basically_satisfied must be ≤ 1")
        return self


class Volumes(_Strict):
    """Reports per day for the whole district at scale 1."""

    patrol_per_grid: float = Field(default=3.0, ge=0, le=100)
    field_fix_share: float = Field(default=0.3, ge=0, le=1)  # of patrol reports: tier 1
    community_share: float = Field(default=0.2, ge=0, le=1)  # of patrol reports: tier 2
    citizen: float = Field(default=25, ge=0, le=100_000)
    hotline: float = Field(default=10, ge=0, le=100_000)
    ai_camera_incidents: float = Field(default=20, ge=0, le=1_000_000)
    iot_incidents: float = Field(default=7, ge=0, le=1_000_000)
    unclear_request_share: float = Field(default=0.1, ge=0, le=1)  # texts without keywords

    @model_validator(mode="after")
    def _patrol(self) -> Self:
        if self.field_fix_share + self.community_share > 1:
            raise ValueError("field_fix_share + community_share must be ≤ 1")
        return self


class SimConfig(_Strict):
    # A Monday; long limits (60-day petitions) stay inside the calendar's known years.
    start: datetime = datetime.fromisoformat("2026-09-07T00:00:00+08:00")
    scale: float = Field(default=1.0, gt=0, le=100)
    volumes: Volumes = Volumes()
    departments: dict[str, Handler] = Field(default_factory=dict)  # by code; else default
    default_department: Handler = Handler()
    community: Handler = Handler(
        acknowledge=Share(median=0.2, sigma=0.6), handle=Share(median=0.35, sigma=0.6)
    )
    dispatcher: Dispatcher = Dispatcher()
    reviewer: Reviewer = Reviewer()
    citizens: Citizens = Citizens()
    sweep_every_minutes: float = Field(default=60, ge=5, le=24 * 60)
    grace_days: float = Field(default=1.0, ge=0, le=30)  # for the resolution rate
    office_share: float = Field(default=0.8, ge=0, le=1)  # share of reports in 08:30–18:00
    engine: Literal["inline", "flows"] = "inline"

    @model_validator(mode="after")
    def _aware(self) -> Self:
        if self.start.tzinfo is None:
            raise ValueError("start needs a timezone, e.g. 2026-09-07T00:00:00+08:00")
        return self

    def handler(self, assignee: str) -> Handler:
        if assignee == "COMMUNITY":
            return self.community
        return self.departments.get(assignee, self.default_department)


def load_config(path: Path | None) -> SimConfig:
    """The defaults, or a YAML file's values over them; errors name the field."""
    if path is None:
        return SimConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}", field="config") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping at the top", field="config")
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        raise InvalidInput(f"{path.name}: {loc}: {err['msg']}", field=loc) from exc
