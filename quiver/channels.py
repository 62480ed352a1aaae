"""The messages of a shard channel in the log: rows inserted into a partition, and row ids
deleted, packed as bytes; and which channel a row belongs to.

Rows go to channel (row id mod shards): a row id always lands on the same channel, so a delete
or an upsert of it is ordered after its insert by the log. Proxies (and ingest nodes) publish
these messages; the data node that consumes a channel applies them in order, each with its log
sequence as the write sequence number the delete rules compare.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from quiver.errors import ErrorCode, QuiverError
from quiver.packing import ID_DTYPE

INSERT = 1
DELETE = 2
# INSERT: kind, partition id, rows, vector bytes; then the ids, the vectors, and the scalar
# columns as an Arrow IPC stream (empty when the collection has none).
_INSERT_HEAD = struct.Struct("<Bqqq")
# DELETE: kind, how many partitions it is limited to (0: all), how many ids; then both.
_DELETE_HEAD = struct.Struct("<Bqq")
# The largest message a proxy publishes: bigger inserts are split by rows.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class InsertRecord:
    partition_id: int
    ids: np.ndarray
    vectors: memoryview  # packed as the collection's layout packs them
    scalars: memoryview


@dataclass(frozen=True)
class DeleteRecord:
    partition_ids: tuple[int, ...]  # empty: every partition
    ids: np.ndarray


def pack_insert(partition_id: int, ids: np.ndarray, vectors: bytes | memoryview, scalars: bytes) -> bytes:
    head = _INSERT_HEAD.pack(INSERT, partition_id, len(ids), memoryview(vectors).nbytes)
    return b"".join((head, ids.astype(ID_DTYPE, copy=False).tobytes(), vectors, scalars))


def pack_delete(partition_ids: list[int], ids: np.ndarray) -> bytes:
    head = _DELETE_HEAD.pack(DELETE, len(partition_ids), len(ids))
    return b"".join((head, np.asarray(partition_ids, dtype=ID_DTYPE).tobytes(), ids.astype(ID_DTYPE, copy=False).tobytes()))


def unpack(data: bytes) -> InsertRecord | DeleteRecord:
    view = memoryview(data)
    if not view:
        raise QuiverError(ErrorCode.UNEXPECTED, "an empty message in the log")
    if view[0] == INSERT:
        _, partition_id, rows, vector_bytes = _INSERT_HEAD.unpack_from(view)
        ids = np.frombuffer(view, dtype=ID_DTYPE, count=rows, offset=_INSERT_HEAD.size)
        start = _INSERT_HEAD.size + ids.nbytes
        return InsertRecord(partition_id, ids, view[start : start + vector_bytes], view[start + vector_bytes :])
    if view[0] == DELETE:
        _, partitions, count = _DELETE_HEAD.unpack_from(view)
        numbers = np.frombuffer(view, dtype=ID_DTYPE, count=partitions + count, offset=_DELETE_HEAD.size)
        return DeleteRecord(tuple(numbers[:partitions].tolist()), numbers[partitions:])
    raise QuiverError(ErrorCode.UNEXPECTED, f"a message of unknown kind {view[0]} in the log")


def shard_of(ids: np.ndarray, shards: int) -> np.ndarray:
    """The channel of each row id (ids may be negative: taken as unsigned)."""
    return (ids.astype(ID_DTYPE, copy=False).view(np.uint64) % np.uint64(shards)).astype(np.int64)
