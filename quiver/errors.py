"""The one registry of Quiver error codes.

Codes are grouped by domain like Milvus 2.x (collection 100s, partition 200s, segment 300s,
node 400s, index 700s, parameter 1100s) and each carries a retriable flag. Every gRPC reply
carries one of them in its Status; each REST surface maps them to its own codes in
proxy/errors.py.
"""

from __future__ import annotations

import errno
from enum import IntEnum

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Redis, the metadata store, did not answer (restarting, or cut off): worth retrying.
METADATA_STORE_DOWN = (RedisConnectionError, RedisTimeoutError)


class ErrorCode(IntEnum):
    SUCCESS = 0
    UNEXPECTED = 1
    UNAVAILABLE = 2  # a node or service that the request needs does not answer
    TIMEOUT = 3

    COLLECTION_NOT_FOUND = 100
    COLLECTION_NOT_LOADED = 101
    COLLECTION_EXISTS = 102
    COLLECTION_NAME_INVALID = 103
    SCHEMA_INVALID = 105
    ID_MODE_MISMATCH = 106  # user ids into an auto-id collection, or the reverse

    PARTITION_NOT_FOUND = 200
    PARTITION_EXISTS = 201
    PARTITION_NAME_INVALID = 202
    PARTITION_NO_MATCH = 203  # search partition patterns that match no partition
    DEFAULT_PARTITION = 204  # the default partition cannot be dropped

    SEGMENT_NOT_FOUND = 300
    STORAGE_FULL = 302  # a disk is full (the log's, a node's): the write was refused, nothing stored
    CHANNEL_MOVED = 303  # another data node consumes the shard channel now

    NO_DATA_NODE = 400
    NODE_NOT_REGISTERED = 401

    NOT_AUTHENTICATED = 1800

    INDEX_NOT_FOUND = 700
    INVALID_INDEX_TYPE = 701
    INDEX_EXISTS = 702  # a different index already on the field
    INDEX_BUILD_FAILED = 703

    ALIAS_NOT_FOUND = 1600
    ALIAS_CONFLICT = 1601  # an alias named like a collection
    ALIAS_EXISTS = 1602

    # Managed document indexes (ingest nodes): their REST surface answers 404 and 409.
    RESOURCE_NOT_FOUND = 1900  # a directory, file, configuration, index or project
    RESOURCE_CONFLICT = 1901  # a sync already running (or none to cancel), a directory in use

    INVALID_PARAMETER = 1100
    MISSING_PARAMETER = 1101
    INVALID_DIMENSION = 1102
    INVALID_TOPK = 1103
    INVALID_METRIC = 1104
    INVALID_VECTORS = 1105
    INVALID_IDS = 1106
    MALFORMED_BODY = 1108  # not parseable (bad JSON)
    INVALID_BODY = 1109  # parseable, but not the shape the endpoint takes
    INVALID_QUERY_PARAM = 1110
    REQUEST_TOO_LARGE = 1111
    UNKNOWN_COMMAND = 1112
    MISSING_QUERY_PARAM = 1113
    INVALID_ROWS = 1114  # inserted rows that do not fit the schema
    DATABASE_NOT_FOUND = 1115

    # The authenticated REST surfaces (as Milvus' merr codes).
    PERMISSION_DENIED = 1401  # authenticated, but not allowed (user management is root's)
    RATE_LIMITED = 8  # more requests than the caller's rate limit allows


RETRIABLE = frozenset(
    {
        ErrorCode.UNAVAILABLE,
        ErrorCode.TIMEOUT,
        ErrorCode.STORAGE_FULL,
        ErrorCode.NO_DATA_NODE,
    }
)


class QuiverError(Exception):
    """An error with a registry code. Every layer raises these; surfaces render them."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE

    def __repr__(self) -> str:
        return f"QuiverError({self.code.name}, {self.message!r})"


def storage_error(error: OSError, where: str) -> QuiverError:
    """A failed write to a node's disk, as the error its client sees."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return QuiverError(ErrorCode.STORAGE_FULL, f"{where} is out of disk space; nothing was stored")
    return QuiverError(ErrorCode.UNEXPECTED, f"{where}: {error}")


def metadata_store_error(error: Exception) -> QuiverError:
    return QuiverError(ErrorCode.UNAVAILABLE, f"the metadata store (Redis) is unavailable: {error}")
