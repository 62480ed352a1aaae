"""Binary bulk formats for vectors: what `POST /collections/{name}/vectors` takes besides JSON,
and what `quiver import` reads from files.

    media type                            body
    application/x-npy                     a NumPy .npy array, (rows, dim) (float32, or uint8 bytes for binary vectors)
    application/x-fvecs                   .fvecs rows: int32 dim, then dim float32 (the SIFT format)
    application/vnd.apache.arrow.stream   Arrow IPC stream: a `vector` column (fixed-size or plain
                                          list of floats, or of bytes for binary), optional int64 `id`

A body is decoded with no Python loop over rows: the vectors stay one contiguous array.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet

from quiver.errors import ErrorCode, QuiverError
from quiver.catalogue import VectorKind
from quiver.schema import VectorLayout

NPY = "application/x-npy"
FVECS = "application/x-fvecs"
ARROW = "application/vnd.apache.arrow.stream"
MEDIA_TYPES = (NPY, FVECS, ARROW)
VECTOR_COLUMN, ID_COLUMN = "vector", "id"


def decode(media_type: str, body: bytes, layout: VectorLayout) -> tuple[np.ndarray, np.ndarray | None]:
    """(vectors as the collection stores them, ids or None) from a binary body."""
    try:
        if media_type == NPY:
            vectors, ids = np.load(io.BytesIO(body), allow_pickle=False), None
        elif media_type == FVECS:
            vectors, ids = _fvecs(np.frombuffer(body, dtype="<i4")), None
        else:
            vectors, ids = _from_table(pa.ipc.open_stream(body).read_all())
    except QuiverError:
        raise
    except (ValueError, OSError, EOFError, pa.ArrowException) as error:
        raise QuiverError(ErrorCode.INVALID_BODY, f"the body is not a valid {media_type} document: {error}") from None
    return _fit(vectors, layout), ids


def encode_arrow(vectors: np.ndarray, ids: np.ndarray | None = None) -> bytes:
    """An Arrow IPC stream body of these rows (what `quiver import` sends)."""
    flat = pa.array(np.ascontiguousarray(vectors).reshape(-1))
    columns = {VECTOR_COLUMN: pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])}
    if ids is not None:
        columns[ID_COLUMN] = pa.array(ids, type=pa.int64())
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def read_file(path: Path, batch_rows: int) -> tuple[int, Iterator[tuple[np.ndarray, np.ndarray | None]]]:
    """(rows in the file, batches of (vectors, ids or None)) of a .npy, .fvecs, .bvecs,
    .arrow/.feather (Arrow IPC file) or .parquet file, read lazily."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        return len(array), ((array[i : i + batch_rows], None) for i in range(0, len(array), batch_rows))
    if suffix in (".fvecs", ".bvecs"):
        array = _vecs_file(path, np.float32 if suffix == ".fvecs" else np.uint8)
        return len(array), ((array[i : i + batch_rows], None) for i in range(0, len(array), batch_rows))
    if suffix in (".arrow", ".feather", ".ipc"):
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    elif suffix == ".parquet":
        table = pa.parquet.read_table(path)
    else:
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"{path.name}: not a .npy, .fvecs, .bvecs, .arrow or .parquet file")
    return table.num_rows, (
        _from_table(table.slice(i, batch_rows)) for i in range(0, table.num_rows, batch_rows)
    )


def _fvecs(words: np.ndarray) -> np.ndarray:
    if not len(words):
        raise QuiverError(ErrorCode.INVALID_VECTORS, "the body holds no vectors")
    dim = int(words[0])
    if dim < 1 or len(words) % (dim + 1) or not (words.reshape(-1, dim + 1)[:, 0] == dim).all():
        raise QuiverError(ErrorCode.INVALID_BODY, "not .fvecs data: every row must be its dim, then dim floats")
    return words.reshape(-1, dim + 1)[:, 1:].view("<f4")


def _vecs_file(path: Path, dtype: type) -> np.ndarray:
    """A .fvecs or .bvecs file, memory-mapped: rows of an int32 dim, then dim values."""
    dim = int(np.fromfile(path, dtype="<i4", count=1)[0])
    width = 4 + dim * np.dtype(dtype).itemsize
    raw = np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, width)
    return raw[:, 4:].view(dtype)


def _from_table(table: pa.Table) -> tuple[np.ndarray, np.ndarray | None]:
    if VECTOR_COLUMN not in table.column_names:
        raise QuiverError(ErrorCode.INVALID_BODY, f"the Arrow data has no '{VECTOR_COLUMN}' column")
    column = table.column(VECTOR_COLUMN).combine_chunks()
    if not (pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type)):
        raise QuiverError(ErrorCode.INVALID_BODY, f"'{VECTOR_COLUMN}' must be a list of numbers, not {column.type}")
    values = column.flatten().to_numpy(zero_copy_only=False)
    if len(column) and len(values) % len(column):
        raise QuiverError(ErrorCode.INVALID_DIMENSION, "the vectors do not all have the same dimension")
    vectors = values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)
    ids = None
    if ID_COLUMN in table.column_names:
        id_column = table.column(ID_COLUMN)
        if not pa.types.is_integer(id_column.type) or id_column.null_count:
            raise QuiverError(ErrorCode.INVALID_IDS, f"'{ID_COLUMN}' must be integers with no nulls")
        ids = id_column.to_numpy().astype(np.int64)
        if len(ids) and ids.min() < 0:
            raise QuiverError(ErrorCode.INVALID_IDS, "ids must not be negative")
    return vectors, ids


def _fit(vectors: np.ndarray, layout: VectorLayout) -> np.ndarray:
    """The vectors in the collection's dtype and width, checked."""
    if vectors.ndim != 2 or not len(vectors):
        raise QuiverError(ErrorCode.INVALID_VECTORS, "the body must hold a non-empty (rows, dim) array of vectors")
    if vectors.shape[1] != layout.width:
        raise QuiverError(
            ErrorCode.INVALID_DIMENSION,
            f"vectors of {vectors.shape[1]} values; this collection takes {layout.width}",
        )
    if layout.kind is VectorKind.BINARY:
        if vectors.dtype != np.uint8:
            raise QuiverError(ErrorCode.INVALID_VECTORS, "binary vectors are uint8 bytes (dim / 8 a row)")
        return np.ascontiguousarray(vectors)
    if vectors.dtype.kind != "f":
        raise QuiverError(ErrorCode.INVALID_VECTORS, f"vectors must be floating point, not {vectors.dtype}")
    converted = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(converted).all():
        raise QuiverError(ErrorCode.INVALID_VECTORS, "vectors must hold finite float32 numbers")
    return converted
