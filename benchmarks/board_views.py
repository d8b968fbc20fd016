"""What the boards, events and tags add to a 1 % 督办 sweep of a big ledger.

    .venv/bin/python benchmarks/board_views.py [--total 1000000] [--repeat 3] [--cache DIR]

Builds the ledger of ``benchmarks/supervision.py`` (``--total`` open cases; 0.1 % due at T1,
1 % more at T2) on SQLite, sweeps T1 untimed (boards on: and publishes its boards, so they
hold the 0.1 %), then times the T2 sweep (1 % of the total due) two ways on fresh copies of
the ledger:

* ledger only: ``gridgov.ledger.supervision.sweep``;
* with boards on: the same sweep, then what ``supervise`` publishes against a real Prefect
  server (the test harness: a ``prefect server`` subprocess on SQLite) — one read of the
  cases on the board, the ~50 board artifacts (district, every department, every community)
  whose content changed, one ``gridgov.case.<step>`` event per ladder step in batches of
  500, and the 50 most severe cases retagged and their trails rewritten.

Prints the median of each, the parts of the publish, and the ratio boards-on / ledger-only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from supervision import STEP, T0, Ledgers  # type: ignore[import-not-found]

from gridgov.boards.publish import (
    follow_cases,
    publish_boards,
    publish_events,
    read_all,
)
from gridgov.ledger.supervision import sweep
from gridgov.runtime import Runtime


async def _publish(rt: Runtime, actions: list, now: object) -> dict[str, float]:  # type: ignore[type-arg]
    parts: dict[str, float] = {}
    t = time.perf_counter()
    boards = await asyncio.to_thread(read_all, rt, now)
    parts["read boards"] = time.perf_counter() - t
    t = time.perf_counter()
    n = sum(b.written for b in await publish_boards(rt, boards))
    parts[f"{n} board artifacts"] = time.perf_counter() - t
    t = time.perf_counter()
    e = await publish_events(rt, actions, now)  # type: ignore[arg-type]
    parts[f"{e} events"] = time.perf_counter() - t
    t = time.perf_counter()
    f = await follow_cases(rt, actions, 50)
    parts[f"{f} cases retagged + trails"] = time.perf_counter() - t
    return parts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--total", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cache", type=Path, default=None)
    a = p.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    groups = {1: a.total // 1000, 2: a.total // 100, 3: a.total // 10}
    ledgers = Ledgers("sqlite", a.cache)
    plain: list[float] = []
    with_boards: list[float] = []
    parts_all: list[dict[str, float]] = []
    try:
        handle = ledgers.build(a.total, groups, 7, False)
        with prefect_test_harness(server_startup_timeout=240):
            for _ in range(a.repeat):
                rt = ledgers.round(handle)
                sweep(rt.book, T0 + STEP)
                t = time.perf_counter()
                done = sweep(rt.book, T0 + STEP * 2)
                plain.append(time.perf_counter() - t)
                ledgers.done(rt)

                rt = ledgers.round(handle)
                sweep(rt.book, T0 + STEP)
                first = asyncio.run(asyncio.to_thread(read_all, rt, T0 + STEP))
                asyncio.run(
                    publish_boards(rt, first)
                )  # untimed: T1's boards as the server has them
                t = time.perf_counter()
                done = sweep(rt.book, T0 + STEP * 2)
                swept = time.perf_counter() - t
                parts = asyncio.run(_publish(rt, done, T0 + STEP * 2))
                with_boards.append(swept + sum(parts.values()))
                parts_all.append(parts)
                print(
                    f"  round: {len(done):,} steps; ledger only {plain[-1] * 1000:.0f} ms, "
                    f"boards on {with_boards[-1] * 1000:.0f} ms ("
                    + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items())
                    + ")",
                    flush=True,
                )
                ledgers.done(rt)
    finally:
        ledgers.close()
    base, full = statistics.median(plain), statistics.median(with_boards)
    print(
        f"\n1 % sweep of {a.total:,} cases ({a.total // 100:,} due), median of {a.repeat}: "
        f"ledger only {base * 1000:.0f} ms, with boards/events/tags {full * 1000:.0f} ms "
        f"(ratio x{full / base:.2f})"
    )


if __name__ == "__main__":
    main()
