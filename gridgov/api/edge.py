"""Every request's path, query and body checked once, before any handler (docs/api.md,
"Hostile input"): no control character, lone surrogate or absurd year in any value, query
values bounded, JSON bodies readable. Refusals are ordinary ``InvalidInput`` errors, so they
render in the gateway's or Open311's error shape and name the field.

The same rule (:mod:`gridgov.domain.text`) guards the request models themselves, so writers
that do not come through HTTP (CLI, importer, flows) are held to it too.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from gridgov.domain.errors import InvalidInput
from gridgov.domain.text import find_problem, text_problem

MAX_QUERY_VALUE = 2000  # the longest documented query value (a list of request ids)
MAX_QUERY_FIELDS = 60
MAX_DEPTH = 32  # no request body of ours nests deeper than 4
# Batches are refused row by row (their models check each row), not whole.
ROW_CHECKED = ("/v1/intake/events",)
JSON_TYPES = ("application/json", "")
FORM_TYPE = "application/x-www-form-urlencoded"


class MalformedBody(InvalidInput):
    code = "malformed_json"


def _check_value(name: str, value: str) -> None:
    if reason := text_problem(name):
        raise InvalidInput(f"a parameter name: {reason}", field="query")
    if reason := text_problem(value):
        raise InvalidInput(f"{name}: {reason}", field=name)
    if len(value) > MAX_QUERY_VALUE:
        raise InvalidInput(f"{name}: longer than {MAX_QUERY_VALUE} characters", field=name)


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests (stops counting past ``limit``), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo and deepest <= limit:
        node, level = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            todo.extend((v, level + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_json(body: bytes) -> Any:
    """A JSON body as FastAPI would read it, but strictly UTF-8 and shallow: anything else is
    ``422 malformed_json`` naming ``body``."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"malformed JSON: not UTF-8 ({exc.reason})", field="body") from exc
    except RecursionError as exc:
        raise MalformedBody("malformed JSON: nested too deeply", field="body") from exc
    except ValueError as exc:
        raise MalformedBody(f"malformed JSON: {exc}"[:300], field="body") from exc
    if depth(data) > MAX_DEPTH:
        raise MalformedBody(f"malformed JSON: nested deeper than {MAX_DEPTH}", field="body")
    return data


async def check_request(request: Request) -> None:
    """App-wide dependency: runs before every handler (after FastAPI read the body)."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and (reason := text_problem(value)):
            raise InvalidInput(f"{name}: {reason}", field=name)
    query = request.query_params.multi_items()
    if len(query) > MAX_QUERY_FIELDS:
        raise InvalidInput(f"more than {MAX_QUERY_FIELDS} query parameters", field="query")
    for name, value in query:
        _check_value(name, value)
    if request.method not in ("POST", "PUT", "PATCH") or request.url.path in ROW_CHECKED:
        return
    body = await request.body()
    if not body:
        return
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == FORM_TYPE:
        try:
            fields = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"cannot read the form: {exc}"[:300], field="body") from exc
        for name, value in fields:
            _check_value(name, value)
    elif (ctype in JSON_TYPES or ctype.endswith("+json")) and (
        found := find_problem(parse_json(body))
    ):
        where, reason = found
        raise InvalidInput(f"{where or 'body'}: {reason}", field=where or "body")
