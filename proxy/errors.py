"""The one place that maps internal errors to each REST surface's status codes and error codes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from quiver.errors import ErrorCode, QuiverError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Milvus 0.x web error codes (shared/spec/notes/milvus-v1-behaviour.md §1).
V1_UNEXPECTED = 1
V1_CODES: dict[ErrorCode, int] = {
    ErrorCode.UNAVAILABLE: 2,
    ErrorCode.TIMEOUT: 2,
    ErrorCode.NO_DATA_NODE: 2,
    ErrorCode.COLLECTION_NOT_FOUND: 4,
    ErrorCode.PARTITION_NOT_FOUND: 4,
    ErrorCode.SEGMENT_NOT_FOUND: 4,
    ErrorCode.INVALID_PARAMETER: 5,
    ErrorCode.SCHEMA_INVALID: 5,
    ErrorCode.INVALID_DIMENSION: 7,
    ErrorCode.INVALID_INDEX_TYPE: 8,
    ErrorCode.COLLECTION_NAME_INVALID: 9,
    ErrorCode.COLLECTION_EXISTS: 9,  # Milvus rewrites "already exists" to an invalid name
    ErrorCode.DEFAULT_PARTITION: 9,  # Milvus answered "_default" drops with an invalid name
    ErrorCode.INVALID_TOPK: 10,
    ErrorCode.INVALID_VECTORS: 11,
    ErrorCode.REQUEST_TOO_LARGE: 11,
    ErrorCode.INVALID_IDS: 12,
    ErrorCode.INDEX_BUILD_FAILED: 21,
    ErrorCode.ID_MODE_MISMATCH: 12,
    ErrorCode.INVALID_METRIC: 23,
    ErrorCode.UNKNOWN_COMMAND: 32,
    ErrorCode.MISSING_QUERY_PARAM: 33,
    ErrorCode.MISSING_PARAMETER: 34,
    ErrorCode.INVALID_BODY: 35,
    ErrorCode.MALFORMED_BODY: 36,
    ErrorCode.INVALID_QUERY_PARAM: 37,
}
_UNAVAILABLE = {ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.NO_DATA_NODE}


def v1_status(error: QuiverError, path: str) -> tuple[int, int]:
    """(HTTP status, 0.x error code). A missing resource is 404 only under /collections."""
    code = V1_CODES.get(error.code, V1_UNEXPECTED)
    if error.code in _UNAVAILABLE:
        return 503, code
    if error.code is ErrorCode.UNEXPECTED:
        return 500, code
    if code == 4 and path.startswith("/collections"):
        return 404, code
    return 400, code


def v1_error_middleware(render: Callable[[int, int, str], web.Response]) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except QuiverError as error:
            status, code = v1_status(error, request.path)
            return render(status, code, error.message)
        except web.HTTPRequestEntityTooLarge as error:
            return render(413, V1_CODES[ErrorCode.REQUEST_TOO_LARGE], error.text or "body too large")
        except web.HTTPException:
            raise  # unknown route (404) or method (405): aiohttp's plain answers
        except Exception as error:  # a bug: log it, answer in the surface's format
            log.exception("%s %s failed", request.method, request.path)
            return render(500, V1_UNEXPECTED, f"internal error: {error!r}")

    return middleware
