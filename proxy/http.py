"""HTTP helpers shared by the REST surfaces: fast JSON in and out, request ids and metrics."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from proxy.surfaces.limits import CONTROL_BODY_BYTES
from quiver import logs, metrics
from quiver.errors import ErrorCode, QuiverError

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=JSON_OPTIONS), status=status, content_type="application/json"
    )


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is longer than `limit`: at once when its
    Content-Length says so, else after reading `limit` bytes. The error is aiohttp's, which
    every surface's error middleware renders in its own format."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
    pieces, size = [], 0
    async for piece in request.content.iter_chunked(1024 * 1024):
        size += len(piece)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        pieces.append(piece)
    return b"".join(pieces)


async def read_json(request: web.Request, limit: int = CONTROL_BODY_BYTES) -> Any:
    """The parsed body; an empty body is a missing parameter, bad JSON a malformed body."""
    body = await read_limited(request, limit)
    if not body.strip():
        raise QuiverError(ErrorCode.MISSING_PARAMETER, "Payload is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise QuiverError(ErrorCode.MALFORMED_BODY, f"body is not valid JSON: {error}") from None


async def read_json_object(request: web.Request, limit: int = CONTROL_BODY_BYTES) -> dict[str, Any]:
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise QuiverError(ErrorCode.MALFORMED_BODY, "body must be a JSON object")
    return body


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
access_log = logging.getLogger("proxy.access")


def observe(surface: str, access_log_sample: float) -> Callable:
    """The outermost middleware of a surface: gives the request an id (the client's
    `X-Request-Id` when it is a sane token) that its logs and gRPC calls carry, echoes it in
    the response, counts and times the request by route template, and writes an access-log
    line (method, path, status, duration; the request id comes with every log line) at info
    level for `access_log_sample` of the requests (1: every one, 0: none), chosen at random."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("X-Request-Id", "")
        request_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else logs.new_request_id()
        logs.request_id.set(request_id)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        started, status = time.perf_counter(), 500
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = request_id
            return response
        except web.HTTPException as error:
            status = error.status
            error.headers["X-Request-Id"] = request_id
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.HTTP_REQUESTS.labels(surface, request.method, route, str(status)).inc()
            metrics.HTTP_SECONDS.labels(surface, request.method, route).observe(seconds)
            if access_log_sample >= 1.0 or random.random() < access_log_sample:
                duration_ms = round(seconds * 1000, 3)
                access_log.info(
                    "%s %s %d %.3f ms", request.method, request.path, status, duration_ms,
                    extra={"surface": surface, "method": request.method, "path": request.path,
                           "status": status, "duration_ms": duration_ms},
                )

    return middleware
