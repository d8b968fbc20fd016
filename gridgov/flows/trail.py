"""The ``seal-trail`` flow: sign a checkpoint of the tamper-evident trail and append it to the
operator's checkpoint file, on a schedule (daily by default; ``GRIDGOV_SEAL_CRON``).

The flow is the only one that loads the signing key (``GRIDGOV_SEAL_KEY_FILE``): run its
deployment on a worker whose environment has the key and nothing else does (a work pool of
its own, docs/operations.md). Sealing is one short transaction of plain ledger work
(``ledger.chain.seal``); no task: nothing in it is worth retrying apart. See
docs/audit-trail.md. One seal at a time (the ledger's ``seal-trail`` hold,
``gridgov.flows.holding``): two seals at once would both chain onto the same previous
checkpoint.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from gridgov import clock
from gridgov.domain.errors import InvalidInput
from gridgov.flows.holding import job_hold
from gridgov.ledger import holds
from gridgov.ledger.chain import load_private, seal
from gridgov.runtime import default_runtime


@flow(name="seal-trail", log_prints=True)
async def seal_trail(export: str | None = None) -> dict[str, Any]:
    """Seal the trail: sign a checkpoint over the cases changed since the last one and append
    it to ``export`` (default: GRIDGOV_CHECKPOINT_FILE). Fails when no key is configured."""
    rt = default_runtime()
    path = rt.settings.seal_key_file
    if path is None:
        raise InvalidInput(
            "no signing key: set GRIDGOV_SEAL_KEY_FILE for the worker that runs seal-trail",
            field="seal_key_file",
        )
    key = load_private(path)
    target = Path(export) if export else rt.settings.checkpoint_target
    async with job_hold(rt.book.factory, holds.SEAL) as hold:
        if not hold.held:
            return {"skipped": True, "holder": hold.other}
        cp = await asyncio.to_thread(seal, rt.engine, key, now=clock.now(), export=target)
        hold.completed_at = clock.now()
    await acreate_markdown_artifact(
        key="trail-checkpoint",
        markdown=(
            f"# Trail checkpoint {cp.id}\n\n"
            f"{cp.events} events of {cp.cases} cases sealed at {cp.sealed_at:%Y-%m-%d %H:%M} "
            f"UTC; root `{cp.root}`; appended to `{target}`."
            + (f"\n\n{cp.note}" if cp.note else "")
        ),
        description=f"Checkpoint {cp.id} of the tamper-evident trail",
    )
    return {
        "checkpoint": cp.id,
        "events": cp.events,
        "cases": cp.cases,
        "root": cp.root,
        "file": str(target),
        "note": cp.note,
    }
