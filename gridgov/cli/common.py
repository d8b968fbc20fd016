"""Shared CLI plumbing: consoles and turning our errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from gridgov.domain.errors import GridgovError

# Piped output (CI logs, `| tee`) would be wrapped at 80 columns: give tables room.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Report a GridgovError as ``error [field]: message`` and exit 2, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GridgovError as exc:
            where = f" \\[{escape(exc.field)}]" if exc.field else ""
            err_console.print(f"[bold red]error{where}:[/] {escape(exc.message)}", highlight=False)
            raise typer.Exit(2) from exc

    return wrapper
