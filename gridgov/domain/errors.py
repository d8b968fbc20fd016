"""Typed errors. Every error names the field (or thing) at fault and the reason."""

from __future__ import annotations


class GridgovError(Exception):
    """Base of every error this package raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "field": self.field, "message": self.message}


class InvalidInput(GridgovError):
    """A value supplied by a caller is malformed or out of range."""

    code = "invalid_input"


class CatalogError(InvalidInput):
    """A catalogue file is wrong; nothing from it is loaded."""

    code = "catalog_error"


class NotFound(GridgovError):
    code = "not_found"


class UnknownItem(NotFound):
    """No catalogue item with that code is in force on the given day."""

    code = "unknown_item"


class InvalidTransition(GridgovError):
    """The action is not allowed in the case's current state."""

    code = "invalid_transition"


class NotDispatchedYet(InvalidTransition):
    """An answer for a case whose report run has not dispatched it yet (409): try again."""

    code = "not_dispatched_yet"


class NotPermitted(GridgovError):
    """The actor's role, department or community may not act on this case."""

    code = "not_permitted"


class IdempotencyConflict(GridgovError):
    """An idempotency key was reused for a different command."""

    code = "idempotency_conflict"


class ConcurrentUpdate(GridgovError):
    """Someone else changed the case first; retry with fresh state."""

    code = "concurrent_update"
