"""The columnar file of a sealed segment: an Arrow IPC file, written by data nodes (and so in the
object store), read by data nodes and index nodes.

It holds the row ids, write sequence numbers and vectors under reserved column names ("$..."
cannot be a field name), then one column per scalar field, the dynamic "$meta" column last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from quiver.catalogue import VectorKind
from quiver.schema import VectorLayout

ID_COLUMN = "$id"
LSN_COLUMN = "$lsn"
VECTOR_COLUMN = "$vector"


@dataclass(frozen=True)
class Rows:
    """The columns of a segment's rows."""

    ids: np.ndarray  # int64 (n,)
    lsns: np.ndarray  # int64 (n,): the log sequence of the message that wrote each row
    vectors: np.ndarray  # float32 (n, dim) or uint8 (n, dim / 8)
    scalars: pa.Table  # n rows of the scalar columns (no columns when the schema has none)


def vector_array(vectors: np.ndarray, layout: VectorLayout) -> pa.Array:
    """Vectors as an Arrow column: fixed-size lists of float32, or fixed-size binary."""
    if layout.kind is VectorKind.FLOAT:
        return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), layout.dim)
    buffer = pa.py_buffer(np.ascontiguousarray(vectors))
    return pa.Array.from_buffers(pa.binary(layout.width), len(vectors), [None, buffer])


def write(path: Path, rows: Rows, layout: VectorLayout) -> None:
    table = pa.table(
        {
            ID_COLUMN: rows.ids,
            LSN_COLUMN: rows.lsns,
            VECTOR_COLUMN: vector_array(rows.vectors, layout),
            **{name: rows.scalars.column(name) for name in rows.scalars.column_names},
        }
    )
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read(path: Path, layout: VectorLayout) -> Rows:
    """Memory-maps a sealed segment's file; the arrays point into the mapping (no copy)."""
    source = pa.memory_map(str(path))
    table = pa.ipc.open_file(source).read_all().combine_chunks()
    n = table.num_rows
    scalars = table.drop_columns([ID_COLUMN, LSN_COLUMN, VECTOR_COLUMN])
    if n == 0:
        return Rows(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty((0, layout.width), layout.dtype),
            scalars,
        )
    ids = table.column(ID_COLUMN).chunk(0).to_numpy()
    lsns = table.column(LSN_COLUMN).chunk(0).to_numpy()
    column = table.column(VECTOR_COLUMN).chunk(0)
    if layout.kind is VectorKind.FLOAT:
        flat = column.flatten().to_numpy()
    else:
        data = column.buffers()[1]
        flat = np.frombuffer(data, dtype=np.uint8, count=n * layout.width,
                             offset=column.offset * layout.width)
    return Rows(ids, lsns, flat.reshape(n, layout.width), scalars)
