"""The seal-trail flow on the Prefect test harness: it seals what the writers hashed and
appends the checkpoint to the file; without a key it fails, sealing nothing. Its deployment
is in the one list, on a daily cron that the settings change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gridgov.domain.enums import Role
from gridgov.domain.lifecycle import Actor
from gridgov.flows.deployments import SEAL_CRON, deployment_specs
from gridgov.flows.trail import seal_trail
from gridgov.item_catalog.loader import Catalog
from gridgov.ledger.chain import load_public, new_key, verify
from gridgov.ledger.seal_models import TrailCheckpoint
from gridgov.runtime import Runtime, default_runtime, reset_runtime
from gridgov.settings import Settings
from tests.conftest import at

pytestmark = pytest.mark.prefect


def _open_one(rt: Runtime) -> str:
    item = min(rt.catalog.in_force(at(2026, 11, 23).date()), key=lambda i: i.code)
    grid = min((u for u in rt.catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    return rt.book.open_case(
        {"item_code": item.code, "community": grid.parent, "source": "patrol", "reporter": "p"},
        Actor(Role.PATROLLER, "p"),
        at(2026, 11, 23, 9),
        "seal-trail-1",
    ).case.case_no


async def test_seal_trail_seals_and_exports_the_checkpoint(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_one(rt)
    no_key = await seal_trail(return_state=True)  # type: ignore[call-overload]
    assert no_key.is_failed() and "GRIDGOV_SEAL_KEY_FILE" in str(no_key.message)
    private, public = tmp_path / "seal.pem", tmp_path / "seal.pub"
    new_key(private, public)
    export = tmp_path / "off-box" / "checkpoints.jsonl"
    monkeypatch.setenv("GRIDGOV_SEAL_KEY_FILE", str(private))
    monkeypatch.setenv("GRIDGOV_CHECKPOINT_FILE", str(export))
    reset_runtime()
    engine = default_runtime().engine
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(TrailCheckpoint)) == 0
    out = await seal_trail()
    assert (out["checkpoint"], out["cases"], out["file"]) == (1, 1, str(export))
    assert out["events"] >= 1
    line = json.loads(export.read_text(encoding="utf-8"))
    assert (line["id"], line["root"]) == (1, out["root"])
    rep = verify(engine, load_public(public), exported=export)
    assert rep.ok and (rep.checkpoints, rep.unsealed) == (1, 0), rep.problems


def test_seal_trail_is_scheduled_daily_and_configurable(catalog: Catalog) -> None:
    by_name = {s.flow_name: s for s in deployment_specs(catalog)}
    spec = by_name["seal-trail"]
    assert spec.schedule is not None and spec.schedule.cron == SEAL_CRON == Settings().seal_cron
    assert spec.load().name == "seal-trail"
    other = {s.flow_name: s for s in deployment_specs(catalog, seal_cron="0 */6 * * *")}
    assert other["seal-trail"].schedule == type(spec.schedule)(cron="0 */6 * * *")
