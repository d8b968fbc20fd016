"""The production stack end to end (issue 12 item 5): cases per minute and handoff latency,
against a bare deployment run of an empty flow measured on the same stack in the same run.

    .venv/bin/python benchmarks/stack.py [--cases 40] [--workers 1,2] [--drivers 8]

For each worker count: a PostgreSQL ledger (own schema) and a ``prefect server`` on its own
PostgreSQL database, that many ``gridgov serve`` processes (the item's flows, review and the
recurring jobs), the gateway with two uvicorn workers in deployment mode, and one more runner
serving an empty flow. Then:

* baseline: ``--bare`` runs of the empty flow's deployment (its own runner), created one by
  one during the drive, each from its create call to Completed (the server's end time);
* the cases: ``--drivers`` clients each drive cases through the gateway: report, acknowledge,
  arrive, complete (3 answers), review-pass, until closed. Cases per minute over the whole
  drive, and each gateway answer's run from the answer to Completed, ÷ the bare run (p50
  target ≤ 1.5).

The machine is shared: the script prints ``uptime`` next to its numbers; compare ratios.
Tests of the same stack under faults: tests/production/drill_stack_faults.py (a drill, run by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from prefect import flow

GRIDGOV = str(Path(sys.executable).parent / "gridgov")


@flow(name="bench-empty")
async def empty() -> None:
    """The baseline: a deployment run that does nothing."""


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def run_states(api_url: str, ids: list[str]) -> dict[str, Any]:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    out: dict[str, Any] = {}
    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            for i in range(0, len(ids), 200):
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        id=FlowRunFilterId(any_=[UUID(x) for x in ids[i : i + 200]])
                    )
                )
                out.update({str(r.id): r for r in runs})
    return out


async def bare_runs(api_url: str, n: int) -> list[tuple[float, str]]:
    """Create ``n`` runs of the empty deployment one after another; (sent at, run id)."""
    from prefect.deployments import arun_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    out = []
    with temporary_settings({PREFECT_API_URL: api_url}):
        for _ in range(n):
            sent = time.time()
            run = await arun_deployment("bench-empty/bench", timeout=0)
            out.append((sent, str(run.id)))
            await asyncio.sleep(0.5)
    return out


def wait_completed(api_url: str, ids: list[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        runs = asyncio.run(run_states(api_url, ids))
        done = {i: r for i, r in runs.items() if r.state_type and r.state_type.value == "COMPLETED"}
        if len(done) == len(ids) or time.monotonic() > deadline:
            return done
        time.sleep(2)


def measure(
    workers: int, n_cases: int, drivers: int, n_bare: int, pg_url: str, limit: int
) -> dict[str, Any]:
    from gridgov.item_catalog.loader import load_catalog
    from gridgov.settings import Settings
    from tests.api_support import build_world
    from tests.production.harness import (
        Proc,
        base_env,
        free_port,
        gridgov_serve,
        pg_database,
        pg_ledger,
        prefect_server,
        wait_for,
    )

    tmp = Path(tempfile.mkdtemp(prefix="c-bench-stack-"))
    with ExitStack() as stack:
        catalog = load_catalog(Settings().catalog_dir)
        rt = stack.enter_context(pg_ledger(pg_url, catalog, "c_bench_stack"))
        w = build_world(rt)
        ledger_url = rt.engine.url.render_as_string(hide_password=False)
        prefect_db = stack.enter_context(pg_database(pg_url, prefix="c_bench_prefect"))
        server = stack.enter_context(prefect_server(tmp, prefect_db))
        procs: list[Any] = []
        stack.callback(lambda: [p.kill_group() for p in procs])
        for i in range(workers):
            procs.append(
                gridgov_serve(
                    server, ledger_url, tmp / f"serve{i}.log", limit=limit, items=[w.item.code]
                )
            )
        procs.append(
            Proc(
                "bench-empty",
                [sys.executable, str(Path(__file__)), "--serve-empty"],
                base_env(PREFECT_HOME=str(server.home), PREFECT_API_URL=server.api_url),
                tmp / "empty.log",
            ).start()
        )
        port = free_port()
        gateway = Proc(
            "gateway",
            [GRIDGOV, "api", "--port", str(port), "--workers", "2"],
            base_env(
                PREFECT_HOME=str(server.home),
                PREFECT_API_URL=server.api_url,
                GRIDGOV_DATABASE_URL=ledger_url,
                GRIDGOV_HOME=str(tmp / "gateway"),
                GRIDGOV_LAUNCH_MODE="deployment",
                GRIDGOV_LAUNCH_TIMEOUT="10",
            ),
            tmp / "gateway.log",
        ).start()
        procs.append(gateway)
        base = f"http://127.0.0.1:{port}"
        wait_for("gateway", lambda: httpx.get(f"{base}/healthz", timeout=5).is_success, 120)

        # Warm up: one case end to end (deployments registered, runners polling).
        def status(no: str) -> str:
            return str(rt.book.get(no).status)

        answers: list[tuple[float, str]] = []  # (answer sent at, run id)

        def post(path: str, who: str, body: Any = None) -> dict[str, Any]:
            sent = time.time()
            r = httpx.post(f"{base}{path}", json=body, headers=w.auth(who), timeout=120)
            assert r.status_code in (200, 201, 202), r.text
            data: dict[str, Any] = r.json()
            if data.get("run", {}).get("flow_run_id"):
                answers.append((sent, data["run"]["flow_run_id"]))
            return data

        def one_case(i: int) -> float:
            t0 = time.perf_counter()
            body = w.new_case(source="patrol", reporter="grid-worker-7", description=f"bench {i}")
            no = post("/v1/cases", "patroller", body)["case"]["case_no"]
            wait_for(f"{no} dispatched", lambda: status(no) == "dispatched", 900, 0.2)
            post(f"/v1/cases/{no}/acknowledge", "lead")
            post(f"/v1/cases/{no}/arrive", "lead")
            post(f"/v1/cases/{no}/complete", "lead", {"evidence": ["photo://x"]})
            wait_for(f"{no} under review", lambda: status(no) == "under_review", 900, 0.2)
            post(f"/v1/cases/{no}/review-pass", "reviewer")
            wait_for(f"{no} closed", lambda: status(no) == "closed", 900, 0.2)
            return time.perf_counter() - t0

        one_case(-1)
        answers.clear()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(drivers + 1) as pool:
            # The bare runs go in during the drive, so both see the same load.
            bare_job = pool.submit(lambda: asyncio.run(bare_runs(server.api_url, n_bare)))
            per_case = list(pool.map(one_case, range(n_cases)))
            bare = bare_job.result()
        elapsed = time.perf_counter() - t0
        bare_done = wait_completed(server.api_url, [i for _, i in bare], 600)
        runs_done = wait_completed(server.api_url, [i for _, i in answers], 600)

        def latencies(sent: list[tuple[float, str]], done: dict[str, Any]) -> list[float]:
            return [
                done[i].end_time.timestamp() - t
                for t, i in sent
                if i in done and done[i].end_time is not None
            ]

        bare_lat = latencies(bare, bare_done)
        hand_lat = latencies(answers, runs_done)
        return {
            "workers": workers,
            "cases": n_cases,
            "cases_per_min": n_cases / elapsed * 60,
            "case_p50": statistics.median(per_case),
            "bare_p50": statistics.median(bare_lat) if bare_lat else float("nan"),
            "bare_p99": pct(bare_lat, 0.99),
            "handoff_p50": statistics.median(hand_lat) if hand_lat else float("nan"),
            "handoff_p99": pct(hand_lat, 0.99),
            "handoffs": f"{len(hand_lat)}/{len(answers)}",
            "bare": f"{len(bare_lat)}/{len(bare)}",
        }


def serve_empty() -> None:
    from prefect import serve

    serve(empty.to_deployment("bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--drivers", type=int, default=8)
    ap.add_argument("--bare", type=int, default=20)
    ap.add_argument("--limit", type=int, default=8, help="runs at once per worker")
    ap.add_argument("--pg", default=os.environ.get("GRIDGOV_BENCH_PG", ""))
    ap.add_argument("--serve-empty", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_empty:
        serve_empty()
        return
    from tests.conftest import PG_URL

    pg = args.pg or PG_URL
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    results = [
        measure(int(k), args.cases, args.drivers, args.bare, pg, args.limit)
        for k in args.workers.split(",")
    ]
    print(f"{datetime.now():%Y-%m-%d %H:%M}  stack benchmark, {args.cases} cases each")
    for r in results:
        ratio = r["handoff_p50"] / r["bare_p50"]
        print(
            f"  {r['workers']} worker(s): {r['cases_per_min']:.1f} cases/min "
            f"(a case end to end p50 {r['case_p50']:.1f} s); handoff answer→Completed "
            f"p50 {r['handoff_p50']:.2f} s p99 {r['handoff_p99']:.2f} s ({r['handoffs']}); "
            f"bare deployment run p50 {r['bare_p50']:.2f} s p99 {r['bare_p99']:.2f} s "
            f"({r['bare']}); handoff ÷ bare at p50 = {ratio:.2f} (target ≤ 1.5)"
        )
    if len(results) > 1:
        print(
            f"  throughput {results[-1]['workers']} vs {results[0]['workers']} worker(s): "
            f"×{results[-1]['cases_per_min'] / results[0]['cases_per_min']:.2f}"
        )
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
