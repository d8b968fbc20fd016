"""Configuration (pydantic-settings, env prefix ``GRIDGOV_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridgov.domain.enums import LaunchMode


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path("~/.gridgov"), description="Where the ledger file lives")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the ledger; default sqlite in home"
    )
    timezone: str = "Asia/Shanghai"
    office_hours: str = "08:30-12:00,14:00-18:00"
    catalog_dir: Path | None = Field(
        default=None, description="Catalogue data directory; default: the shipped catalogue"
    )
    holidays_file: Path | None = Field(
        default=None,
        description="Operator holiday data (docs/calendar.md); default holidays.yaml in the "
        "catalogue directory if present. Wins over chinese-calendar.",
    )
    ladder: str = "reminded:0.8,supervised:1.0,escalated:1.5"
    spot_check_share: float = Field(default=0.2, ge=0, le=1)
    unsatisfied_policy: str = Field(default="reopen", pattern="^(reopen|record)$")
    webhook_url: str | None = None
    webhook_retries: int = Field(default=3, ge=0, le=10)
    supervise_every: int = Field(
        default=60,
        ge=5,
        le=86400,
        description="Seconds between scheduled 督办 sweeps served by `gridgov serve`",
    )
    public_coordinate_decimals: int | None = Field(
        default=3,
        ge=0,
        le=6,
        description="Decimals of lat/long in the public Open311 feed (3 ≈ 110 m, 2 ≈ 1.1 km); "
        "unset (empty) serves them as reported. Keyed /v1 readers always get them as stored.",
    )
    public_reads_per_minute: int = Field(
        default=120,
        ge=0,
        le=1_000_000,
        description="Keyless Open311 reads per client address and minute (bursts of 60); "
        "0: no limit. Keyed /v1 reads are not limited.",
    )
    launch_mode: LaunchMode = Field(
        default=LaunchMode.AUTO,
        description="How the gateway starts runs after recording: auto (deployment when a "
        "Prefect API is configured, else record only), deployment, inline, or none (record "
        "only); a run not started is owed and the sweep's reconciler starts it",
    )
    launch_timeout: float = Field(
        default=1.5,
        gt=0,
        le=30,
        description="Seconds the gateway waits for Prefect to accept a run before answering "
        "202 'recorded, run pending'",
    )
    owed_run_grace: int = Field(
        default=60,
        ge=1,
        le=86400,
        description="Seconds an owed run may wait before the sweep's reconciler starts it",
    )
    owed_run_stale: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="Seconds an owed run a worker claimed may stay Pending/Running before the "
        "reconciler starts it again (a worker killed mid-run leaves its runs Running); at "
        "least the grace. Runs still waiting for a worker (Scheduled) are left alone",
    )
    job_lease: int = Field(
        default=60,
        ge=3,
        le=3600,
        description="Seconds a recurring job's ledger hold (督办 sweep, citizen clock, seal, "
        "monthly assessment) lasts unless its holder renews it; the holder renews it every "
        "third of that while it works, so a killed job's hold is free within this",
    )

    seal_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs trail checkpoints; readable by the "
        "sealing job only, never by the API or the flows (docs/audit-trail.md)",
    )
    seal_public_key_file: Path | None = Field(
        default=None, description="Its public key (PEM), for gridgov audit verify-trail"
    )
    checkpoint_file: Path | None = Field(
        default=None,
        description="Where each checkpoint is appended as a JSON line, outside the database "
        "(e.g. a write-once mount); default $GRIDGOV_HOME/checkpoints.jsonl",
    )

    seal_cron: str = Field(
        default="15 0 * * *",
        pattern=r"^\S+( \S+){4}$",
        description="When the seal-trail deployment signs a checkpoint (cron, five fields, in "
        "Asia/Shanghai; default daily at 00:15) when served by `gridgov serve`",
    )

    @property
    def checkpoint_target(self) -> Path:
        """Where checkpoints are appended (checkpoint_file, or $GRIDGOV_HOME's default)."""
        return self.checkpoint_file or self.home / "checkpoints.jsonl"

    @field_validator("home")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @property
    def ledger_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'ledger.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
