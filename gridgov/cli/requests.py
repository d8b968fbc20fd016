"""``gridgov requests list|assign|reject``: the dispatcher's queue of citizen requests the
classifier was unsure of, from the command line (the gateway has the same at
``/v1/intake/requests``). ``--by`` names the dispatcher: every decision is recorded with who
made it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gridgov.cli.common import console, friendly_errors

if TYPE_CHECKING:
    from gridgov.intake.citizen import CitizenDesk
    from gridgov.runtime import Runtime

app = typer.Typer(
    help="The dispatcher's queue of citizen requests (书记在线).", no_args_is_help=True
)
By = Annotated[str, typer.Option("--by", help="who decides (recorded as the dispatcher)")]


def _desk() -> tuple[Runtime, CitizenDesk]:
    from gridgov.intake.citizen import CitizenDesk
    from gridgov.runtime import default_runtime

    rt = default_runtime()
    rt.init_ledger()
    return rt, CitizenDesk(rt.book)


def _by(name: str) -> str:
    from gridgov.domain.errors import InvalidInput

    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("name the dispatcher in 1–100 characters", field="--by")
    return f"cli:{name}"


@app.command("list")
@friendly_errors
def list_(
    community: Annotated[str | None, typer.Option(help="only this community")] = None,
) -> None:
    """Queued requests, oldest first, with the classifier's candidate items."""
    _, desk = _desk()
    rows = desk.queue(community)
    table = Table(title=f"{len(rows)} requests waiting for the dispatcher")
    for col in ("id", "channel", "request", "community", "candidates"):
        table.add_column(col)
    for r in rows:
        cands = ", ".join(f"{c['code']} ({c['score']:g})" for c in r.candidates)
        table.add_row(str(r.id), r.channel, r.request_id, r.community, cands)
    console.print(table)


@app.command()
@friendly_errors
def assign(
    request: Annotated[int, typer.Argument(help="the request's id (see list)", min=1)],
    item_code: Annotated[str, typer.Argument(help="the catalogue item it is")],
    by: By,
) -> None:
    """Pick the item: the case opens as of the receipt and is dispatched."""
    from gridgov import clock
    from gridgov.intake.citizen import inline_opener

    rt, desk = _desk()
    opener = inline_opener(rt.book, rt.settings.spot_check_share, rt.settings.unsatisfied_policy)
    out = desk.assign(request, item_code.strip().upper(), _by(by), clock.now(), opener)
    console.print(f"request {out.id} → case {out.case_no} ({out.item_code})")


@app.command()
@friendly_errors
def reject(
    request: Annotated[int, typer.Argument(help="the request's id (see list)", min=1)],
    reason: Annotated[str, typer.Option(help="told to the citizen")],
    by: By,
) -> None:
    """Not a governance matter: the citizen is told why; no case is opened."""
    from gridgov import clock

    _, desk = _desk()
    out = desk.reject(request, _by(by), reason, clock.now())
    console.print(f"request {out.id} rejected")
