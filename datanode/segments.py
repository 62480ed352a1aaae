"""One segment held by a data node: its rows, its state, its index, and its files.

A growing segment keeps its columns in buffers that grow by doubling; rows below the current
count never change, so a search can read a snapshot (views up to the count) from a worker
thread while new rows are appended. Deletes set per-row flags, and only for rows written
before the delete (by log sequence number), so replaying the log gives the same result.

A flushed segment always keeps its ids, sequence numbers and delete flags in memory (16 bytes
and a flag a row); its vectors, scalar columns and index are "resident" only while the node's
cache holds them, and are read back from its files when a search needs them again.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from datanode import indexes, storage
from datanode.indexes import LoadedIndex
from datanode.storage import SegmentMeta
from quiver import segmentfile
from quiver.errors import ErrorCode, QuiverError
from quiver.filters import SortedIndex
from quiver.schema import CollectionSchema, IndexSpec, IndexState, Segment, SegmentState


@dataclass(frozen=True)
class Snapshot:
    """A view of a segment's rows for one search, lookup or write.

    The rows never change; the delete flags are live for searches (a delete applied meanwhile
    may or may not be seen) and a copy for writes.
    """

    segment_id: int
    partition_id: int
    ids: np.ndarray
    lsns: np.ndarray
    vectors: np.ndarray
    deleted: np.ndarray
    scalars: pa.Table | None  # None when the schema has no scalar columns
    schema: CollectionSchema
    index: LoadedIndex | None = None
    # A sorted index of a scalar field, or None where the segment keeps none (still growing).
    scalar_index: Callable[[str], SortedIndex | None] = field(default=lambda name: None, repr=False)

    def columns(self, names: list[str] | frozenset[str]) -> pa.Table:
        """These fields of every row, by field name: the key, the vector field, scalar fields,
        and the dynamic "$meta" column."""
        key, vector = self.schema.primary_field, self.schema.vector_field
        arrays = {}
        for name in names:
            if name == key.name and self.schema.ids_are_keys:
                arrays[name] = pa.array(self.ids)
            elif name == vector.name:
                arrays[name] = segmentfile.vector_array(self.vectors, self.schema.layout)
            elif self.scalars is not None and name in self.scalars.column_names:
                arrays[name] = self.scalars.column(name)
            else:
                raise QuiverError(ErrorCode.INVALID_PARAMETER, f"field {name!r} does not exist")
        return pa.table(arrays) if arrays else pa.table({"$row": pa.nulls(len(self.ids))})


@dataclass(frozen=True)
class Resident:
    """What loading a flushed segment reads from its files."""

    vectors: np.ndarray
    scalars: pa.Table | None
    index: LoadedIndex | None
    mapped: bool  # the vectors point into the memory-mapped file


class LocalSegment:
    def __init__(self, meta: SegmentMeta, directory: Path) -> None:
        self.meta = meta
        self.directory = directory
        self.state = SegmentState.GROWING
        self.count = 0
        width, dtype = meta.layout.width, meta.layout.dtype
        self._ids = np.empty(0, dtype=np.int64)
        self._lsns = np.empty(0, dtype=np.int64)
        self._vectors: np.ndarray | None = np.empty((0, width), dtype=dtype)  # None: not resident
        self._mapped = False  # the vectors point into the memory-mapped rows file
        self._scalar_schema = meta.schema.scalar_schema
        self._scalar_batches: list[pa.RecordBatch] = []  # growing: one per insert
        self._scalars: pa.Table | None = None  # the batches as one table, when resident
        self._deleted = np.zeros(0, dtype=bool)
        self.deleted_count = 0
        # Checkpoint bookkeeping: the oldest log message whose effect on this segment is not yet
        # in the object store.
        self.unpersisted_rows_lsn: int | None = None
        self.unpersisted_deletes_lsn: int | None = None
        self.persist_lock = asyncio.Lock()
        self.load_lock = asyncio.Lock()
        self.index_spec: IndexSpec | None = None  # the index on disk, loaded or not
        self.index: LoadedIndex | None = None  # swapped in whole: searches see old or new
        self._sorted: dict[str, SortedIndex] = {}  # scalar indexes, built on first use
        self._sorted_lock = threading.Lock()

    @property
    def id(self) -> int:
        return self.meta.id

    @property
    def data_bytes(self) -> int:
        return self.count * self.meta.layout.row_bytes

    @property
    def max_lsn(self) -> int:
        return int(self._lsns[: self.count].max()) if self.count else 0

    @property
    def is_full(self) -> bool:
        return self.data_bytes >= self.meta.seal_bytes

    @property
    def is_resident(self) -> bool:
        return self._vectors is not None and (self.index_spec is None or self.index is not None)

    @property
    def has_scalars(self) -> bool:
        return len(self._scalar_schema) > 0

    @property
    def resident_bytes(self) -> int:
        """Memory the node's cache counts for this segment: its vectors, columns and index."""
        if not self.is_resident:
            return 0
        scalar_bytes = self._scalars.nbytes if self._scalars is not None else 0
        vector_bytes = 0 if self._mapped else self.data_bytes  # a mapping is the OS's page cache
        return vector_bytes + scalar_bytes + (self.index.nbytes if self.index else 0)

    # -- creation and loading -----------------------------------------------------------------

    @classmethod
    def create(cls, meta: SegmentMeta, directory: Path) -> LocalSegment:
        storage.write_meta(directory, meta)
        return cls(meta, directory)

    @classmethod
    def open(cls, directory: Path) -> LocalSegment:
        """Reads a segment back: flushed (not resident) with its ids and deletes, or empty and
        growing (consuming its channel fills it)."""
        segment = cls(storage.read_meta(directory), directory)
        if storage.has_rows(directory):
            rows = storage.read_rows(directory, segment.meta.layout)
            segment._ids, segment._lsns = np.array(rows.ids), np.array(rows.lsns)
            segment.count = len(rows.ids)
            segment._deleted = storage.read_deletes(directory, segment.count)
            segment.deleted_count = int(segment._deleted.sum())
            segment._vectors = None
            segment.state = SegmentState.FLUSHED
            segment.index_spec = indexes.newest_on_disk(directory)
            keep = segment.index_spec.version if segment.index_spec else 0
            indexes.remove_files(directory, keep_version=keep)
        return segment

    def read_resident(self) -> Resident:
        """Reads the vectors, columns and index from the files (blocking: a worker thread)."""
        rows = storage.read_rows(self.directory, self.meta.layout)
        scalars = rows.scalars if self.has_scalars else None
        spec = self.index_spec
        index = indexes.load(self.directory, spec, self.meta.layout) if spec else None
        # With an index to search, the vectors stay memory-mapped: the OS pages them in for the
        # lookups and exact searches that need them, instead of the segment taking its memory twice.
        mapped = index is not None
        return Resident(rows.vectors if mapped else np.array(rows.vectors), scalars, index, mapped)

    def make_resident(self, resident: Resident) -> None:
        self._vectors, self._mapped = resident.vectors, resident.mapped
        self._scalars = resident.scalars
        if resident.index is not None and self.index_spec is not None:
            if resident.index.version == self.index_spec.version:
                self.index = resident.index

    def evict(self) -> None:
        """Frees the vectors and the index; the files still hold them."""
        if self.state is SegmentState.FLUSHED:
            self._vectors, self._mapped = None, False
            self._scalars = None
            self.index = None
            self._sorted = {}

    # -- changes ------------------------------------------------------------------------------

    def append(self, ids: np.ndarray, vectors: np.ndarray, scalars: pa.Table | None, lsn: int) -> None:
        n = len(ids)
        self._reserve(self.count + n)
        end = self.count + n
        assert self._vectors is not None  # growing segments are always resident
        self._ids[self.count : end] = ids
        self._lsns[self.count : end] = lsn
        self._vectors[self.count : end] = vectors
        if self.has_scalars:
            assert scalars is not None and scalars.num_rows == n
            self._scalar_batches += scalars.to_batches()
            self._scalars = None  # rebuilt from the batches by the next snapshot
        if self.unpersisted_rows_lsn is None:
            self.unpersisted_rows_lsn = lsn
        self.count = end  # publish last: snapshots only read below the count

    def _reserve(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity, 1024)

        def grown(old: np.ndarray, fill: Callable[..., np.ndarray] = np.empty) -> np.ndarray:
            new = fill((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.count] = old[: self.count]
            return new

        assert self._vectors is not None
        # Old buffers stay alive for snapshots that still point at them. Appends write every
        # new row's id, LSN and vector; only the delete flags must start out clear.
        self._ids, self._lsns = grown(self._ids), grown(self._lsns)
        self._vectors, self._deleted = grown(self._vectors), grown(self._deleted, np.zeros)

    def delete(self, ids: np.ndarray, lsn: int) -> int:
        """Hides the rows with these ids written before `lsn`; returns how many were hidden."""
        n = self.count
        hit = np.isin(self._ids[:n], ids) & (self._lsns[:n] < lsn) & ~self._deleted[:n]
        newly = int(hit.sum())
        if newly:
            self._deleted[:n] |= hit
            self.deleted_count += newly
            if self.unpersisted_deletes_lsn is None:
                self.unpersisted_deletes_lsn = lsn
        return newly

    def add_persisted_deletes(self, deleted: np.ndarray) -> int:
        """Hides the rows a copy of this segment elsewhere had deleted and persisted (nothing
        to persist again); returns how many were new here."""
        newly = deleted[: self.count] & ~self._deleted[: self.count]
        self._deleted[: self.count] |= newly
        added = int(newly.sum())
        self.deleted_count += added
        return added

    def mark_deleted(self, rows: np.ndarray, lsn: int) -> None:
        """Hides rows by position (deletes carried over from compacted segments)."""
        newly = rows[~self._deleted[rows]]
        self._deleted[newly] = True
        self.deleted_count += len(newly)
        if len(newly):
            pending = self.unpersisted_deletes_lsn
            self.unpersisted_deletes_lsn = lsn if pending is None else min(pending, lsn)

    # -- reading ------------------------------------------------------------------------------

    def snapshot(self, copy_deletes: bool = False) -> Snapshot:
        if self._vectors is None:
            raise QuiverError(ErrorCode.UNEXPECTED, f"segment {self.id} is not resident")
        n = self.count
        return Snapshot(
            segment_id=self.id,
            partition_id=self.meta.partition_id,
            ids=self._ids[:n],
            lsns=self._lsns[:n],
            vectors=self._vectors[:n],
            deleted=self._deleted[:n].copy() if copy_deletes else self._deleted[:n],
            scalars=self._scalar_table(),
            schema=self.meta.schema,
            index=self.index,
            scalar_index=self._sorted_index if self.state is SegmentState.FLUSHED else lambda name: None,
        )

    def _sorted_index(self, name: str) -> SortedIndex | None:
        """A flushed segment's sorted index of a scalar column, built once (any thread)."""
        with self._sorted_lock:
            if name not in self._sorted:
                scalars = self._scalars
                if scalars is None or name not in scalars.column_names:
                    return None
                self._sorted[name] = SortedIndex(scalars.column(name))
            return self._sorted[name]

    def _scalar_table(self) -> pa.Table | None:
        if not self.has_scalars:
            return None
        if self._scalars is None:  # growing: the batches so far, zero-copy
            self._scalars = pa.Table.from_batches(self._scalar_batches, schema=self._scalar_schema)
        return self._scalars

    def ids_and_deletes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ids, sequence numbers and delete flags: resident even when the vectors are not."""
        n = self.count
        return self._ids[:n], self._lsns[:n], self._deleted[:n]

    def info(self, node_id: str) -> Segment:
        return Segment(
            id=self.id,
            collection_id=self.meta.collection_id,
            partition_id=self.meta.partition_id,
            node_id=node_id,
            state=self.state,
            row_count=self.count,
            deleted_count=self.deleted_count,
            data_bytes=self.data_bytes,
            index_version=self.index_spec.version if self.index_spec else 0,
            index_state=IndexState.FINISHED if self.index_spec else IndexState.NONE,
            resident=self.is_resident,
            shard=self.meta.shard,
        )

    # -- persistence --------------------------------------------------------------------------
    # begin_persist() runs on the event loop; the write_* methods run in a worker thread and
    # write what the snapshot holds; deletes applied meanwhile stay marked as unpersisted.

    def begin_persist(self) -> tuple[Snapshot, int | None]:
        """A snapshot to write, and the delete checkpoint to restore if the write fails."""
        pending, self.unpersisted_deletes_lsn = self.unpersisted_deletes_lsn, None
        return self.snapshot(copy_deletes=True), pending

    def begin_persist_deletes(self) -> tuple[np.ndarray, int | None]:
        """The delete flags to write (resident or not), and the checkpoint to restore."""
        pending, self.unpersisted_deletes_lsn = self.unpersisted_deletes_lsn, None
        return self._deleted[: self.count].copy(), pending

    def persist_failed(self, pending: int | None) -> None:
        lsns = [x for x in (pending, self.unpersisted_deletes_lsn) if x is not None]
        self.unpersisted_deletes_lsn = min(lsns) if lsns else None

    def stage_rows(self, snapshot: Snapshot) -> list[Path]:
        """Writes a sealed segment's deletes and rows under temporary names (blocking: a worker
        thread); storage.publish() puts them in place, in that order, once they are uploaded."""
        scalars = snapshot.scalars if snapshot.scalars is not None else pa.table({})
        rows = segmentfile.Rows(snapshot.ids, snapshot.lsns, snapshot.vectors, scalars)
        return [
            storage.stage_deletes(self.directory, snapshot.deleted),
            storage.stage_rows(self.directory, rows, self.meta.layout),  # last: the rows file completes it
        ]

    def mark_flushed(self) -> None:
        """The rows are in the object store and on disk: trims the growth slack off the buffers
        (event loop thread)."""
        n = self.count
        assert self._vectors is not None
        self._ids, self._lsns = self._ids[:n].copy(), self._lsns[:n].copy()
        self._vectors, self._deleted = self._vectors[:n].copy(), self._deleted[:n].copy()
        scalars = self._scalar_table()
        self._scalars = scalars.combine_chunks() if scalars is not None else None
        self._scalar_batches = []
        self.unpersisted_rows_lsn = None
        self.state = SegmentState.FLUSHED

    def stage_deletes(self, deleted: np.ndarray) -> Path:
        return storage.stage_deletes(self.directory, deleted)

    def use_index(self, spec: IndexSpec, index: LoadedIndex, mapped_vectors: np.ndarray | None = None) -> bool:
        """Switches to a newly built index, unless a newer one is already in use. The vectors
        in memory give way to `mapped_vectors`, the same rows memory-mapped from the file."""
        if self.index_spec is not None and self.index_spec.version > spec.version:
            return False
        self.index_spec, self.index = spec, index
        if mapped_vectors is not None and self._vectors is not None and len(mapped_vectors) == self.count:
            self._vectors, self._mapped = mapped_vectors, True
        return True

    def drop_index(self, version: int | None = None) -> IndexSpec | None:
        """Stops using the index if it is this version (None: whichever); returns what it dropped."""
        dropped = self.index_spec
        if dropped is None or (version is not None and dropped.version != version):
            return None
        self.index_spec, self.index = None, None
        return dropped

    def remove_files(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
