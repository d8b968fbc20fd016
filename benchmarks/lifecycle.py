"""Per-handoff cost of the case lifecycle against an empty Prefect flow run, in one run.

    .venv/bin/python benchmarks/lifecycle.py [--cases 20]

Starts a temporary Prefect server (prefect_test_harness) and a temporary SQLite ledger,
then measures in the same process and the same way (in-process async flow runs):
  * baseline: an empty async flow run;
  * report  : record a case and run its item flow (dispatch to the department);
  * answer  : a department answer (acknowledge / arrive / handle) and the steps after it;
  * review  : the reviewer's pass, run by the review flow, closing the case;
  * a full tier-3 case (report + 3 answers + review).
Prints medians, p90s, each handoff ÷ the empty run (target ≤ 1.5) and cases per minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def main(n_cases: int) -> None:
    from prefect import flow

    from gridgov.domain.commands import Answer
    from gridgov.domain.enums import Role, Tier
    from gridgov.domain.lifecycle import Actor, EventKind
    from gridgov.flows.launch import Launcher
    from gridgov.runtime import default_runtime, reset_runtime

    reset_runtime()
    rt = default_runtime()
    rt.init_ledger()

    @flow(name="empty")
    async def empty() -> None:
        return None

    for _ in range(3):  # warm both paths (imports, client, server caches)
        await empty()
    tz = ZoneInfo(rt.settings.timezone)
    start = datetime(2026, 11, 23, 8, 30, tzinfo=tz)
    item = next(
        i
        for i in sorted(rt.catalog.in_force(start.date()), key=lambda i: i.code)
        if i.tier == Tier.DEPARTMENT and "patrol" in i.sources
    )
    grid = min((u for u in rt.catalog.territory.values() if u.kind == "grid"), key=lambda u: u.code)
    launcher = Launcher(rt)
    base: list[float] = []
    report: list[float] = []
    answer: list[float] = []
    review: list[float] = []
    whole: list[float] = []
    lead = item.lead_department
    for n in range(n_cases + 1):
        t = time.perf_counter()
        await empty()
        base.append(time.perf_counter() - t)
        t0 = time.perf_counter()
        case, _ = await launcher.report(
            {
                "item_code": item.code,
                "community": grid.parent,
                "grid": grid.code,
                "source": "patrol",
                "reporter": "bench",
            },
            Actor(Role.PATROLLER, "bench"),
            start + timedelta(minutes=n),
            f"bench-{n}",
        )
        report.append(time.perf_counter() - t0)
        moment = start + timedelta(hours=1, minutes=n)
        for kind, payload in (
            (EventKind.ACKNOWLEDGED, {}),
            (EventKind.ARRIVED, {}),
            (EventKind.HANDLED, {"evidence": ["photo://x"]}),
        ):
            t = time.perf_counter()
            await launcher.answer(
                case.case_no,
                Answer(
                    kind=kind,
                    role="department",
                    actor="officer",
                    department=lead,
                    key=f"bench-{n}-{kind}",
                    payload=payload,
                ),
                moment,
            )
            answer.append(time.perf_counter() - t)
            moment += timedelta(minutes=10)
        t = time.perf_counter()
        st = await launcher.answer(
            case.case_no,
            Answer(
                kind=EventKind.REVIEW_PASSED,
                role="reviewer",
                actor="reviewer",
                key=f"bench-{n}-pass",
            ),
            moment,
        )
        review.append(time.perf_counter() - t)
        whole.append(time.perf_counter() - t0)
        assert st.name == "Closed", st.name
        if n == 0:  # first case warms the item flow: not counted
            base, report, answer, review, whole = [], [], [], [], []
    b = statistics.median(base)
    print(
        f"cases: {n_cases} tier-3 cases ({item.code} {item.name_zh}), SQLite ledger, "
        "in-process async flow runs on a temporary Prefect server"
    )
    print(f"{'measure':<28}{'median ms':>10}{'p90 ms':>10}{'÷ empty':>10}")
    for label, xs in (
        ("empty flow run (baseline)", base),
        ("handoff: report+dispatch", report),
        ("handoff: department answer", answer),
        ("handoff: review (close)", review),
        ("full tier-3 case (5 runs)", whole),
    ):
        med = statistics.median(xs)
        print(f"{label:<28}{med * 1000:>10.1f}{pct(xs, 0.9) * 1000:>10.1f}{med / b:>10.2f}")
    worst = max(statistics.median(x) for x in (report, answer, review)) / b
    print(f"worst handoff ratio: {worst:.2f} (target ≤ 1.5) -> {'OK' if worst <= 1.5 else 'MISS'}")
    print(f"throughput, one worker: {60 / statistics.median(whole):.1f} tier-3 cases/minute")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    with tempfile.TemporaryDirectory() as home, prefect_test_harness(server_startup_timeout=180):
        os.environ["GRIDGOV_HOME"] = home
        os.environ.pop("GRIDGOV_DATABASE_URL", None)
        asyncio.run(main(args.cases))
