"""A data node's files: segment metadata, sealed segments as Arrow IPC files (quiver.segmentfile),
delete bitmaps. The same three files are what a flushed segment is in the object store; the
node's copies are a cache of them.

Every file is written to a temporary name, fsynced, and renamed into place, so a crash leaves
either the old file or the new one, never half of one.
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

from quiver import segmentfile
from quiver.schema import CollectionSchema, VectorLayout
from quiver.segmentfile import Rows

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
    shard: int = 0  # the channel whose rows it holds

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
                "shard": self.shard,
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
            shard=d.get("shard", 0),
        )


def stage(path: Path, write: Callable[[Path], object]) -> Path:
    """Calls write(temp_path) beside `path` and fsyncs the result; returns the temp path, which
    publish() renames into place (after an upload, for the files the object store holds)."""
    temp = path.with_name(path.name + ".tmp")
    write(temp)
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return temp


def fsync_dir(directory: Path) -> None:
    """Makes a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temp: Path) -> None:
    """Renames a staged file to its final name (the temp name without ".tmp")."""
    os.replace(temp, temp.with_suffix(""))
    fsync_dir(temp.parent)


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    publish(stage(path, write))


def write_meta(directory: Path, meta: SegmentMeta) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / META_FILE, lambda p: p.write_bytes(meta.to_json()))


def read_meta(directory: Path) -> SegmentMeta:
    return SegmentMeta.from_json((directory / META_FILE).read_bytes())


def stage_rows(directory: Path, rows: Rows, layout: VectorLayout) -> Path:
    return stage(directory / DATA_FILE, lambda temp: segmentfile.write(temp, rows, layout))


def has_rows(directory: Path) -> bool:
    return (directory / DATA_FILE).exists()


def read_rows(directory: Path, layout: VectorLayout) -> Rows:
    return segmentfile.read(directory / DATA_FILE, layout)


def stage_deletes(directory: Path, deleted: np.ndarray) -> Path:
    packed = np.packbits(deleted, bitorder="little").tobytes()
    header = _DELETES_HEADER.pack(len(deleted), zlib.crc32(packed))
    return stage(directory / DELETES_FILE, lambda p: p.write_bytes(header + packed))


def read_deletes(directory: Path, rows: int) -> np.ndarray:
    """The segment's deleted-row flags; all False when none were persisted."""
    path = directory / DELETES_FILE
    if not path.exists():
        return np.zeros(rows, dtype=bool)
    return parse_deletes(path.read_bytes(), rows, str(path))


def parse_deletes(data: bytes, rows: int, source: str) -> np.ndarray:
    """Deleted-row flags from the bytes stage_deletes wrote (a local file or its copy in the bucket)."""
    count, crc = _DELETES_HEADER.unpack_from(data)
    packed = data[_DELETES_HEADER.size :]
    if count != rows or zlib.crc32(packed) != crc:
        raise OSError(f"{source} is corrupt: {count} rows, expected {rows}, or bad checksum")
    bits = np.frombuffer(packed, dtype=np.uint8)
    return np.unpackbits(bits, count=rows, bitorder="little").astype(bool)
