"""docs/api.md lists exactly the error codes the gateway sends (issue 14): one shape, one
table, checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

from gridgov.api import errors
from gridgov.api.app import create_app  # noqa: F401  (imports every module that adds codes)
from gridgov.client import GatewayError
from gridgov.domain.errors import GridgovError

DOC = Path(__file__).parent.parent / "docs" / "api.md"


def documented() -> dict[str, int]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("| status | code | when |", 1)[1].split("\n\n", 1)[0]
    out: dict[str, int] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for code in re.findall(r"`([a-z_]+)`", cells[1]):
                out[code] = int(cells[0])
    return out


def sent() -> dict[str, int]:
    """Every typed error the handlers map (and their subclasses), FastAPI's own refusals
    and the handlers' literal codes."""
    out: dict[str, int] = {}
    todo: list[type[GridgovError]] = [cls for cls, _ in errors.STATUS]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if issubclass(cls, GatewayError):
            # The client's mirrors of these answers: raised by gridgov.client on what the
            # gateway sent, never by the gateway. Other test files import the client, so
            # without this the codes seen would depend on the order tests run in.
            continue
        out.setdefault(cls.code, errors.status_of(cls("x")))
    for status, code in errors.HTTP_CODES.items():
        out.setdefault(code, status)
    out.update({"busy": 503, "internal": 500, "http_error": 400})
    return out


def test_the_table_lists_the_codes_the_gateway_sends() -> None:
    assert documented() == sent()
