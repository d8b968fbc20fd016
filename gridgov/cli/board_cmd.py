"""``gridgov board``: the 督办 board in the terminal — what is overdue or at risk now, by
department, community and ladder level, in Chinese and local time (docs/boards.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from gridgov.cli.common import console, friendly_errors

LEVEL_HELP = "reminded (提醒) | supervised (督办) | escalated (升级) | due (已到期未督办)"


@friendly_errors
def board(
    dept: Annotated[str | None, typer.Option("--dept", help="current holder's code")] = None,
    community: Annotated[str | None, typer.Option(help="community code")] = None,
    level: Annotated[str | None, typer.Option(help=LEVEL_HELP)] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000, help="rows shown")] = 50,
    at: Annotated[
        datetime | None, typer.Option(help="as of (ISO-8601; naive = ledger zone); default now")
    ] = None,
) -> None:
    """Overdue and at-risk cases now, most urgent first."""
    from gridgov import clock
    from gridgov.boards.labels import holder_zh, level_zh, local, place_zh, zone_label
    from gridgov.boards.query import LEVELS, filter_clauses, holiday_note, read_board
    from gridgov.boards.render import LINE_COLUMNS_ZH, text_lines
    from gridgov.domain.errors import InvalidInput
    from gridgov.runtime import default_runtime

    rt = default_runtime()
    cat, tz = rt.catalog, rt.calendar.tz
    if dept is not None and dept not in cat.departments:
        raise InvalidInput(f"unknown department code {dept!r}", field="--dept")
    if community is not None and community not in cat.territory:
        raise InvalidInput(f"unknown community code {community!r}", field="--community")
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level is one of {', '.join(LEVELS)}", field="--level")
    now = clock.now() if at is None else (at if at.tzinfo else at.replace(tzinfo=tz))
    with rt.book.factory() as s:
        snap = read_board(
            s, rt.calendar, now, where=filter_clauses(dept, community), level=level, limit=limit
        )
    scope = " · ".join(
        x
        for x in (
            holder_zh(cat, dept) if dept else "",
            place_zh(cat, community) if community else "",
            level_zh(level if level != "due" else None) if level else "",
        )
        if x
    )
    counts = " · ".join(
        f"{level_zh(k if k != 'due' else None)} {snap.counts.get(k, 0)}" for k in LEVELS
    )
    table = Table(
        title=f"督办看板{' · ' + scope if scope else ''} — 截至 {local(now, tz)}",
        caption=f"共 {snap.total} 件:{counts}。时间均为{zone_label(tz, now)}",
    )
    for col in LINE_COLUMNS_ZH:
        table.add_column(col)
    for ln in text_lines(snap, cat, tz):
        table.add_row(*ln.cells)
    console.print(table)
    note = holiday_note(rt.book, now)
    if note:  # deadlines counted without a year's holiday data
        console.print(f"[bold yellow]注意(节假日数据)[/]:{note}")
