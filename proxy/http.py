"""HTTP helpers shared by the REST surfaces: fast JSON in and out."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from quiver.errors import ErrorCode, QuiverError

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=JSON_OPTIONS), status=status, content_type="application/json"
    )


async def read_json(request: web.Request) -> Any:
    """The parsed body; an empty body is a missing parameter, bad JSON a malformed body."""
    body = await request.read()
    if not body.strip():
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "Payload is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"body is not valid JSON: {error}") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "body must be a JSON object")
    return body
