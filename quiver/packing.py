"""Packing of ids and numbers into the little-endian bytes that cross process boundaries."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from quiver.errors import ErrorCode, QuiverError

ID_DTYPE = np.dtype("<i8")
DISTANCE_DTYPE = np.dtype("<f4")


def pack_ids(ids: np.ndarray) -> bytes:
    return np.ascontiguousarray(ids, dtype=ID_DTYPE).tobytes()


def unpack_ids(data: bytes, count: int | None = None) -> np.ndarray:
    if len(data) % ID_DTYPE.itemsize or (count is not None and len(data) != count * 8):
        raise QuiverError(ErrorCode.INVALID_IDS, f"{len(data)} bytes are not {count} packed ids")
    return np.frombuffer(data, dtype=ID_DTYPE)


def pack_distances(distances: np.ndarray) -> bytes:
    return np.ascontiguousarray(distances, dtype=DISTANCE_DTYPE).tobytes()


def unpack_distances(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=DISTANCE_DTYPE)


def pack_table(table: pa.Table | None) -> bytes:
    """A table as an Arrow IPC stream (b"" for None): how columns cross process boundaries."""
    if table is None:
        return b""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def unpack_table(data: bytes) -> pa.Table | None:
    if not data:
        return None
    try:
        return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except pa.ArrowInvalid as error:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"unreadable columns: {error}") from None
