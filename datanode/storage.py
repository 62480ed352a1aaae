"""A data node's files: segment metadata, sealed segments as Arrow IPC files, delete bitmaps.

Every file is written to a temporary name, fsynced, and renamed into place, so a crash leaves
either the old file or the new one, never half of one. A sealed segment's file holds its row
ids, write sequence numbers and vectors under reserved column names ("$..." cannot be a field
name), then one column per scalar field, the dynamic "$meta" column last.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from datanode.wal import fsync_dir
from quiver.catalogue import VectorKind
from quiver.schema import CollectionSchema, VectorLayout

ID_COLUMN = "$id"
LSN_COLUMN = "$lsn"
VECTOR_COLUMN = "$vector"
META_FILE = "meta.json"
DATA_FILE = "data.arrow"
DELETES_FILE = "deletes.bin"
_DELETES_HEADER = struct.Struct("<QI")  # rows, CRC-32 of the packed bitmap


@dataclass(frozen=True)
class SegmentMeta:
    id: int
    collection_id: int
    partition_id: int
    schema: CollectionSchema
    seal_bytes: int
    # Set on a compaction's output: the segments it replaces once its rows file exists.
    replaces: tuple[int, ...] = ()

    @property
    def layout(self) -> VectorLayout:
        return self.schema.layout

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "collection_id": self.collection_id,
                "partition_id": self.partition_id,
                "schema": orjson.loads(self.schema.to_json()),
                "seal_bytes": self.seal_bytes,
                "replaces": list(self.replaces),
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> SegmentMeta:
        d = orjson.loads(data)
        return cls(
            id=d["id"],
            collection_id=d["collection_id"],
            partition_id=d["partition_id"],
            schema=CollectionSchema.from_json(orjson.dumps(d["schema"]).decode()),
            seal_bytes=d["seal_bytes"],
            replaces=tuple(d.get("replaces", ())),
        )


@dataclass(frozen=True)
class Rows:
    """The columns of a segment's rows."""

    ids: np.ndarray  # int64 (n,)
    lsns: np.ndarray  # int64 (n,): the WAL record that wrote each row
    vectors: np.ndarray  # float32 (n, dim) or uint8 (n, dim / 8)
    scalars: pa.Table  # n rows of the scalar columns (no columns when the schema has none)


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Calls write(temp_path), then fsyncs and renames the result to `path`."""
    temp = path.with_name(path.name + ".tmp")
    write(temp)
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    fsync_dir(path.parent)


def write_meta(directory: Path, meta: SegmentMeta) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / META_FILE, lambda p: p.write_bytes(meta.to_json()))


def read_meta(directory: Path) -> SegmentMeta:
    return SegmentMeta.from_json((directory / META_FILE).read_bytes())


def vector_array(vectors: np.ndarray, layout: VectorLayout) -> pa.Array:
    """Vectors as an Arrow column: fixed-size lists of float32, or fixed-size binary."""
    if layout.kind is VectorKind.FLOAT:
        return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), layout.dim)
    buffer = pa.py_buffer(np.ascontiguousarray(vectors))
    return pa.Array.from_buffers(pa.binary(layout.width), len(vectors), [None, buffer])


def write_rows(directory: Path, rows: Rows, layout: VectorLayout) -> None:
    table = pa.table(
        {
            ID_COLUMN: rows.ids,
            LSN_COLUMN: rows.lsns,
            VECTOR_COLUMN: vector_array(rows.vectors, layout),
            **{name: rows.scalars.column(name) for name in rows.scalars.column_names},
        }
    )

    def write(temp: Path) -> None:
        with pa.OSFile(str(temp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    write_atomically(directory / DATA_FILE, write)


def has_rows(directory: Path) -> bool:
    return (directory / DATA_FILE).exists()


def read_rows(directory: Path, layout: VectorLayout) -> Rows:
    """Memory-maps a sealed segment's file; the arrays point into the mapping (no copy)."""
    source = pa.memory_map(str(directory / DATA_FILE))
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


def write_deletes(directory: Path, deleted: np.ndarray) -> None:
    packed = np.packbits(deleted, bitorder="little").tobytes()
    header = _DELETES_HEADER.pack(len(deleted), zlib.crc32(packed))
    write_atomically(directory / DELETES_FILE, lambda p: p.write_bytes(header + packed))


def read_deletes(directory: Path, rows: int) -> np.ndarray:
    """The segment's deleted-row flags; all False when none were persisted."""
    path = directory / DELETES_FILE
    if not path.exists():
        return np.zeros(rows, dtype=bool)
    data = path.read_bytes()
    count, crc = _DELETES_HEADER.unpack_from(data)
    packed = data[_DELETES_HEADER.size :]
    if count != rows or zlib.crc32(packed) != crc:
        raise OSError(f"{path} is corrupt: {count} rows, expected {rows}, or bad checksum")
    bits = np.frombuffer(packed, dtype=np.uint8)
    return np.unpackbits(bits, count=rows, bitorder="little").astype(bool)
