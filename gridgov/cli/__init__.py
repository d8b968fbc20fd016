"""The ``gridgov`` command."""

from gridgov.cli.main import app

__all__ = ["app"]
