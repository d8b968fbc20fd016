"""``gridgov keys create|list|revoke``: API keys of the gateway."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gridgov.cli.common import console, err_console, friendly_errors
from gridgov.domain.enums import KEY_ROLES, Role

app = typer.Typer(help="API keys of the gateway (stored hashed).", no_args_is_help=True)


@app.command()
@friendly_errors
def create(
    role: Annotated[
        str,
        typer.Option(help=", ".join(sorted(KEY_ROLES)) + " (machine: AI-camera / IoT batches)"),
    ],
    name: Annotated[str, typer.Option(help="who holds it, e.g. 'CG case system'")],
    department: Annotated[
        str | None, typer.Option(help="department code (department keys)")
    ] = None,
    community: Annotated[
        str | None,
        typer.Option(help="community code (community keys), or a street/community scope"),
    ] = None,
) -> None:
    """Issue a key. It is printed once: only its hash is stored."""
    from functools import partial

    from gridgov.api.keystore import create_key
    from gridgov.domain.errors import InvalidInput
    from gridgov.item_catalog.loader import load_catalog
    from gridgov.ledger.db import make_engine, session_factory
    from gridgov.settings import get_settings

    try:
        role_ = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"unknown role {role!r}", field="--role") from exc
    # Only the ledger and, for a bound key, the catalogue's codes: no case book, no Prefect.
    settings = get_settings()
    factory = session_factory(make_engine(settings.ledger_url))
    catalog = partial(load_catalog, settings.catalog_dir)
    token, info = create_key(factory, catalog, role_, name, department=department, scope=community)
    err_console.print(
        f"key {info.prefix} for {info.role} {info.name!r}"
        + (f" ({info.department or info.scope})" if info.department or info.scope else "")
        + " — store it now, it is not shown again:"
    )
    console.print(token, highlight=False, soft_wrap=True)


@app.command("list")
@friendly_errors
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """Keys by prefix, role and unit (never the keys themselves)."""
    from gridgov.api.keystore import list_keys
    from gridgov.runtime import build_runtime

    rt = build_runtime()
    table = Table(title="API keys")
    for col in ("prefix", "role", "name", "department", "scope", "created", "revoked"):
        table.add_column(col)
    for k in list_keys(rt.book.factory, include_revoked=all_):
        table.add_row(
            k.prefix,
            k.role,
            k.name,
            k.department or "",
            k.scope or "",
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )
    console.print(table)


@app.command()
@friendly_errors
def revoke(prefix: Annotated[str, typer.Argument(help="the key's prefix (8 hex)")]) -> None:
    """Revoke a key; gateways stop accepting it within their cache time (5 s)."""
    from gridgov.api.keystore import revoke_key
    from gridgov.runtime import build_runtime

    info = revoke_key(build_runtime().book.factory, prefix)
    console.print(f"revoked {info.prefix} ({info.role} {info.name!r}) at {info.revoked_at}")
