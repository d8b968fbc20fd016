"""GeoReport v2 documents in JSON and XML.

JSON documents are lists of objects; XML wraps them in the spec's root and row elements
(``<services><service>``, ``<service_requests><request>``, ``<errors><error>``). Booleans
are ``true``/``false``, missing values empty elements, lists comma-separated.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from xml.etree import ElementTree as ET

from fastapi import Request
from fastapi.responses import Response

from gridgov.domain.text import printable

Fmt = Literal["json", "xml"]
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(printable(str(v)) for v in value)
    return printable(str(value))


def _clean(value: Any) -> Any:
    """Rows stored before the input rule may hold characters no XML 1.0 document (and, for
    lone surrogates, no UTF-8) can carry: drop them on the way out, so a feed always parses."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _fill(parent: ET.Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        child = ET.SubElement(parent, key)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            singular = key[:-1] if key.endswith("s") else key
            for row in value:
                _fill(ET.SubElement(child, singular), row)
        else:
            child.text = _text(value)


def _serialise(top: ET.Element) -> bytes:
    body: bytes = ET.tostring(top, encoding="unicode").encode()
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def to_xml(root: str, row: str, rows: list[dict[str, Any]]) -> bytes:
    top = ET.Element(root)
    for data in rows:
        _fill(ET.SubElement(top, row), data)
    return _serialise(top)


def object_xml(root: str, data: dict[str, Any]) -> bytes:
    top = ET.Element(root)
    _fill(top, data)
    return _serialise(top)


def document(
    fmt: Fmt, root: str, row: str, rows: list[dict[str, Any]], status: int = 200
) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, row, rows), status_code=status, media_type=XML_TYPE)
    body = json.dumps(_clean(rows), ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE)


def single(fmt: Fmt, root: str, data: dict[str, Any]) -> Response:
    """A document that is one object (the service definition), not a list."""
    if fmt == "xml":
        return Response(object_xml(root, data), media_type=XML_TYPE)
    return Response(json.dumps(_clean(data), ensure_ascii=False).encode(), media_type=JSON_TYPE)


def fmt_of(path: str) -> Fmt:
    return "xml" if path.endswith(".xml") else "json"


def error_response(request: Request, status: int, message: str) -> Response:
    """The spec's error list; its HTTP status is the error's code. Bad input is 400 and a
    missing or invalid api_key 403, as GeoReport clients expect."""
    status = {422: 400, 401: 403}.get(status, status)  # the spec: 403 for a bad api_key
    return document(
        fmt_of(request.url.path),
        "errors",
        "error",
        [{"code": status, "description": message}],
        status=status,
    )
