"""The one place that maps internal errors to each REST surface's status codes and error codes."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from quiver.errors import ErrorCode, QuiverError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RateLimited(QuiverError):
    """A request over its caller's rate limit; the reply's Retry-After says when to come back."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)
        self.retry_after_s = retry_after_s


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
    ErrorCode.INVALID_ROWS: 11,
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
    ErrorCode.PERMISSION_DENIED: 3,
}
_UNAVAILABLE = {ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.NO_DATA_NODE}


def v1_status(error: QuiverError, path: str) -> tuple[int, int]:
    """(HTTP status, 0.x error code). A missing resource is 404 only under /collections."""
    code = V1_CODES.get(error.code, V1_UNEXPECTED)
    if error.code in _UNAVAILABLE:
        return 503, code
    if error.code is ErrorCode.UNEXPECTED:
        return 500, code
    if error.code is ErrorCode.RATE_LIMITED:  # 0.x has no code for it: 429 says it all
        return 429, code
    if error.code is ErrorCode.STORAGE_FULL:
        return 507, code
    if code == 4 and path.startswith("/collections"):
        return 404, code
    return 400, code


# Milvus 2.x REST v2 codes (shared/spec/notes/milvus-v2-behaviour.md §3). HTTP status is 200
# for every error but these.
V2_UNEXPECTED = 65535
V2_CODES: dict[ErrorCode, int] = {
    ErrorCode.UNAVAILABLE: 5,
    ErrorCode.NO_DATA_NODE: 5,
    ErrorCode.NODE_NOT_REGISTERED: 901,  # Milvus' "node not found"
    ErrorCode.TIMEOUT: 10001,
    ErrorCode.COLLECTION_NOT_FOUND: 100,
    ErrorCode.COLLECTION_NOT_LOADED: 101,
    ErrorCode.COLLECTION_EXISTS: 1100,
    ErrorCode.COLLECTION_NAME_INVALID: 1100,
    ErrorCode.SCHEMA_INVALID: 1100,
    ErrorCode.ID_MODE_MISMATCH: 1804,
    ErrorCode.PARTITION_NOT_FOUND: 200,
    ErrorCode.PARTITION_NO_MATCH: 200,
    ErrorCode.PARTITION_EXISTS: 1100,
    ErrorCode.PARTITION_NAME_INVALID: 1100,
    ErrorCode.DEFAULT_PARTITION: 1100,
    ErrorCode.INDEX_NOT_FOUND: 700,
    ErrorCode.INVALID_INDEX_TYPE: 1100,
    ErrorCode.INDEX_EXISTS: 65535,
    ErrorCode.ALIAS_NOT_FOUND: 1600,
    ErrorCode.ALIAS_CONFLICT: 1601,
    ErrorCode.ALIAS_EXISTS: 1602,
    ErrorCode.NOT_AUTHENTICATED: 1800,
    ErrorCode.DATABASE_NOT_FOUND: 800,
    ErrorCode.INVALID_PARAMETER: 1100,
    ErrorCode.INVALID_DIMENSION: 1100,
    ErrorCode.INVALID_METRIC: 1100,
    ErrorCode.INVALID_TOPK: 1100,
    ErrorCode.INVALID_IDS: 1806,
    ErrorCode.MISSING_PARAMETER: 1802,
    ErrorCode.MALFORMED_BODY: 1801,
    ErrorCode.INVALID_BODY: 1801,
    ErrorCode.INVALID_VECTORS: 1801,
    ErrorCode.INVALID_ROWS: 1804,
    ErrorCode.REQUEST_TOO_LARGE: 1100,
    ErrorCode.STORAGE_FULL: 9,  # Milvus' "quota exceeded", which refuses writes on a full disk
    ErrorCode.PERMISSION_DENIED: 1401,
    ErrorCode.RATE_LIMITED: 1807,  # "request is rejected by limiter", with HTTP 200 as Milvus
}


def v2_status(error: QuiverError) -> tuple[int, int]:
    """(HTTP status, REST v2 code): 401 for credentials, 403 for privileges, 408 for timeouts,
    else 200."""
    code = V2_CODES.get(error.code, V2_UNEXPECTED)
    if error.code is ErrorCode.NOT_AUTHENTICATED:
        return 401, code
    if error.code is ErrorCode.PERMISSION_DENIED:
        return 403, code
    if error.code is ErrorCode.TIMEOUT:
        return 408, code
    return 200, code


Render = Callable[[int, int, str], web.Response]
Classify = Callable[[QuiverError, str], tuple[int, int]]


def error_middleware(
    classify: Classify, render: Render, unexpected: int, too_large: int, route_errors: bool = False
) -> Callable:
    """Turns every error into the surface's format: `classify` maps an internal error (and the
    request path) to the surface's (HTTP status, code); `render` writes the body. An unknown
    route (404) or method (405) keeps aiohttp's plain answer, as the Milvus servers gave plain
    ones, unless `route_errors` asks for the surface's format."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except QuiverError as error:
            status, code = classify(error, request.path)
            response = render(status, code, error.message)
            if isinstance(error, RateLimited):
                response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
            return response
        except web.HTTPRequestEntityTooLarge as error:
            return render(413, too_large, error.text or "body too large")
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as error:
            if not route_errors:
                raise
            response = render(error.status, error.status, error.reason)
            response.headers.extend((k, v) for k, v in error.headers.items() if k == "Allow")
            return response
        except web.HTTPException:
            raise  # aiohttp's own answers (a 404 or 405 kept plain, a 400 for a broken request)
        except Exception as error:  # a bug: log it, answer in the surface's format
            log.exception("%s %s failed", request.method, request.path)
            return render(500, unexpected, f"internal error: {error!r}")

    return middleware


def v1_error_middleware(render: Render) -> Callable:
    return error_middleware(v1_status, render, V1_UNEXPECTED, V1_CODES[ErrorCode.REQUEST_TOO_LARGE])


def v2_error_middleware(render: Render) -> Callable:
    return error_middleware(
        lambda error, path: v2_status(error), render, V2_UNEXPECTED, V2_CODES[ErrorCode.REQUEST_TOO_LARGE]
    )


# Managed document indexes (LlamaCloud's /api/v1, FastAPI-shaped): plain HTTP statuses, and
# the registry code for the rest. Validation failures of the request itself never reach this:
# the surface answers them with FastAPI's 422 detail list.
MANAGED_STATUSES: dict[ErrorCode, int] = {
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.RESOURCE_NOT_FOUND: 404,
    ErrorCode.COLLECTION_NOT_FOUND: 404,
    ErrorCode.RESOURCE_CONFLICT: 409,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.INVALID_PARAMETER: 422,
    ErrorCode.MISSING_PARAMETER: 422,
    ErrorCode.INVALID_BODY: 422,
    ErrorCode.MALFORMED_BODY: 422,
    ErrorCode.INVALID_QUERY_PARAM: 422,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.NO_DATA_NODE: 503,
    ErrorCode.TIMEOUT: 504,
}


def managed_status(error: QuiverError) -> tuple[int, int]:
    """(HTTP status, registry code); anything unlisted is a 500."""
    return MANAGED_STATUSES.get(error.code, 500), int(error.code)


def managed_error_middleware(render: Render) -> Callable:
    """FastAPI answers unknown routes in JSON too: {"detail": "Not Found"}."""
    return error_middleware(
        lambda error, path: managed_status(error), render, int(ErrorCode.UNEXPECTED), int(ErrorCode.REQUEST_TOO_LARGE),
        route_errors=True,
    )
