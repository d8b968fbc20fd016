"""``gridgov catalog list|show|validate|diff|summary``."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from gridgov.cli.common import console, friendly_errors
from gridgov.domain.enums import TerritoryKind
from gridgov.item_catalog.diff import diff_catalog
from gridgov.item_catalog.loader import Catalog, load_catalog
from gridgov.settings import get_settings

app = typer.Typer(help="The governance item catalogue (治理事项清单).", no_args_is_help=True)
DirOpt = Annotated[Path | None, typer.Option("--dir", help="catalogue directory")]
OnOpt = Annotated[str | None, typer.Option("--on", help="day (YYYY-MM-DD); default today")]


PLURAL = {
    TerritoryKind.DISTRICT: "district(s)",
    TerritoryKind.STREET: "streets",
    TerritoryKind.COMMUNITY: "communities",
    TerritoryKind.GRID: "grids",
}


def _load(directory: Path | None) -> Catalog:
    return load_catalog(directory or get_settings().catalog_dir)


def _day(value: str | None, field: str = "--on") -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date", param_hint=field) from exc


def print_summary(catalog: Catalog, day: date) -> None:
    items = catalog.in_force(day)
    table = Table(
        title=f"Catalogue in force on {day}: {len(items)} items "
        f"({len(catalog.items)} versions of {len(catalog.codes)} codes)"
    )
    table.add_column("family")
    table.add_column("tier 1 field fix", justify="right")
    table.add_column("tier 2 community", justify="right")
    table.add_column("tier 3 department", justify="right")
    counts = Counter((i.family.value, int(i.tier)) for i in items)
    for fam in sorted({f for f, _ in counts}):
        table.add_row(fam, *(str(counts[(fam, t)]) for t in (1, 2, 3)))
    console.print(table)
    console.print(
        f"{len(catalog.departments)} departments; territory: "
        + ", ".join(f"{len(catalog.units(k))} {PLURAL[k]}" for k in TerritoryKind)
    )


@app.command()
@friendly_errors
def summary(directory: DirOpt = None, on: OnOpt = None) -> None:
    """Counts by family and tier, departments and territory."""
    print_summary(_load(directory), _day(on))


@app.command("list")
@friendly_errors
def list_items(
    directory: DirOpt = None,
    on: OnOpt = None,
    tier: Annotated[int | None, typer.Option(min=1, max=3)] = None,
    family: Annotated[str | None, typer.Option()] = None,
    department: Annotated[str | None, typer.Option(help="lead department code")] = None,
) -> None:
    """Items in force on a day, with tier, lead department and handling limit."""
    catalog = _load(directory)
    day = _day(on)
    table = Table(title=f"Items in force on {day}")
    for col in ("code", "v", "name", "family/category", "tier", "lead", "handle limit"):
        table.add_column(col)
    for i in sorted(catalog.in_force(day), key=lambda i: i.code):
        if (
            (tier and i.tier != tier)
            or (family and i.family.value != family)
            or (department and i.lead_department != department)
        ):
            continue
        table.add_row(
            i.code,
            str(i.version),
            f"{i.name_zh} {i.name_en}",
            f"{i.family.value}/{i.category}",
            str(int(i.tier)),
            i.lead_department,
            str(i.deadlines.handle or "none"),
        )
    console.print(table)


@app.command()
@friendly_errors
def show(
    code: str,
    directory: DirOpt = None,
    version: Annotated[int | None, typer.Option(help="default: every version")] = None,
) -> None:
    """Every field of an item (all versions, or one)."""
    catalog = _load(directory)
    items = [catalog.version(code, version)] if version else catalog.versions(code)
    for item in items:
        console.rule(f"{item.code} v{item.version}  {item.name_zh} / {item.name_en}")
        console.print(
            yaml.safe_dump(item.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
        )


@app.command()
@friendly_errors
def validate(directory: Annotated[Path | None, typer.Argument()] = None) -> None:
    """Validate catalogue files; exits 2 naming file, row and field of every error."""
    catalog = _load(directory)
    console.print(
        f"[green]ok[/]: {catalog.source}: {len(catalog.items)} item versions, "
        f"{len(catalog.departments)} departments, {len(catalog.territory)} "
        "territory units"
    )


@app.command()
@friendly_errors
def diff(
    since: Annotated[str, typer.Option("--from", help="earlier day YYYY-MM-DD")],
    until: Annotated[str | None, typer.Option("--to", help="later day; default today")] = None,
    directory: DirOpt = None,
) -> None:
    """What entered, left or changed (事项准入与退出) between two days."""
    catalog = _load(directory)
    a, b = _day(since, "--from"), _day(until, "--to")
    changes = diff_catalog(catalog, a, b)
    table = Table(title=f"Catalogue changes {a} → {b}: {len(changes)}")
    for col in ("change", "code", "name", "detail"):
        table.add_column(col)
    for c in changes:
        table.add_row(c.change, c.code, c.name, c.detail)
    console.print(table)
