"""Packing of ids and numbers into the little-endian bytes that cross process boundaries."""

from __future__ import annotations

import numpy as np

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
