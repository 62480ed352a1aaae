"""One segment held by a data node: its rows in memory, its state, and its files.

A growing segment keeps its columns in buffers that grow by doubling; rows below the current
count never change, so a search can read a snapshot (views up to the count) from a worker
thread while new rows are appended. Deletes set per-row flags, and only for rows written
before the delete (by WAL sequence number), so replaying the log gives the same result.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datanode import indexes, storage
from datanode.indexes import LoadedIndex
from datanode.storage import Rows, SegmentMeta
from quiver.schema import IndexState, Segment, SegmentState


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
    index: LoadedIndex | None = None


class LocalSegment:
    def __init__(self, meta: SegmentMeta, directory: Path) -> None:
        self.meta = meta
        self.directory = directory
        self.state = SegmentState.GROWING
        self.count = 0
        width, dtype = meta.layout.width, meta.layout.dtype
        self._ids = np.empty(0, dtype=np.int64)
        self._lsns = np.empty(0, dtype=np.int64)
        self._vectors = np.empty((0, width), dtype=dtype)
        self._deleted = np.zeros(0, dtype=bool)
        self.deleted_count = 0
        # WAL bookkeeping: the oldest record whose effect on this segment is not yet on disk.
        self.unpersisted_rows_lsn: int | None = None
        self.unpersisted_deletes_lsn: int | None = None
        # Inserts that passed the state check but are not applied yet; sealing waits for them.
        self.inflight = 0
        self.drained = asyncio.Event()
        self.drained.set()
        self.seal_requested = False
        self.persist_lock = asyncio.Lock()
        self.index: LoadedIndex | None = None  # swapped in whole: searches see old or new

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

    # -- creation and loading -----------------------------------------------------------------

    @classmethod
    def create(cls, meta: SegmentMeta, directory: Path) -> LocalSegment:
        storage.write_meta(directory, meta)
        return cls(meta, directory)

    @classmethod
    def load(cls, directory: Path) -> LocalSegment:
        """Reads a segment back: flushed with its rows and deletes, or empty and growing."""
        segment = cls(storage.read_meta(directory), directory)
        if storage.has_rows(directory):
            rows = storage.read_rows(directory, segment.meta.layout)
            segment._use_rows(rows, storage.read_deletes(directory, len(rows.ids)))
            segment.state = SegmentState.FLUSHED
            spec = indexes.newest_on_disk(directory)
            if spec is not None:
                segment.index = indexes.load(directory, spec, segment.meta.layout)
            indexes.remove_files(directory, keep_version=spec.version if spec else 0)
        return segment

    def _use_rows(self, rows: Rows, deleted: np.ndarray) -> None:
        self._ids, self._lsns, self._vectors = rows.ids, rows.lsns, rows.vectors
        self._deleted = deleted
        self.count = len(rows.ids)
        self.deleted_count = int(deleted.sum())

    # -- changes ------------------------------------------------------------------------------

    def append(self, ids: np.ndarray, vectors: np.ndarray, lsn: int) -> None:
        n = len(ids)
        self._reserve(self.count + n)
        end = self.count + n
        self._ids[self.count : end] = ids
        self._lsns[self.count : end] = lsn
        self._vectors[self.count : end] = vectors
        if self.unpersisted_rows_lsn is None:
            self.unpersisted_rows_lsn = lsn
        self.count = end  # publish last: snapshots only read below the count

    def _reserve(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity, 1024)

        def grown(old: np.ndarray) -> np.ndarray:
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.count] = old[: self.count]
            return new

        # Old buffers stay alive for snapshots that still point at them.
        self._ids, self._lsns = grown(self._ids), grown(self._lsns)
        self._vectors, self._deleted = grown(self._vectors), grown(self._deleted)

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

    # -- reading ------------------------------------------------------------------------------

    def snapshot(self, copy_deletes: bool = False) -> Snapshot:
        n = self.count
        return Snapshot(
            segment_id=self.id,
            partition_id=self.meta.partition_id,
            ids=self._ids[:n],
            lsns=self._lsns[:n],
            vectors=self._vectors[:n],
            deleted=self._deleted[:n].copy() if copy_deletes else self._deleted[:n],
            index=self.index,
        )

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
            index_version=self.index.version if self.index else 0,
            index_state=IndexState.FINISHED if self.index else IndexState.NONE,
        )

    # -- persistence --------------------------------------------------------------------------
    # begin_persist() runs on the event loop; the write_* methods run in a worker thread and
    # write what the snapshot holds; deletes applied meanwhile stay marked as unpersisted.

    def begin_persist(self) -> tuple[Snapshot, int | None]:
        """A snapshot to write, and the delete checkpoint to restore if the write fails."""
        pending, self.unpersisted_deletes_lsn = self.unpersisted_deletes_lsn, None
        return self.snapshot(copy_deletes=True), pending

    def persist_failed(self, pending: int | None) -> None:
        lsns = [x for x in (pending, self.unpersisted_deletes_lsn) if x is not None]
        self.unpersisted_deletes_lsn = min(lsns) if lsns else None

    def write_rows(self, snapshot: Snapshot) -> Rows:
        """Writes a sealed segment's file and its deletes; returns the memory-mapped rows."""
        rows = Rows(snapshot.ids, snapshot.lsns, snapshot.vectors)
        storage.write_rows(self.directory, rows, self.meta.layout)
        storage.write_deletes(self.directory, snapshot.deleted)
        return storage.read_rows(self.directory, self.meta.layout)

    def use_written_rows(self, rows: Rows) -> None:
        """Switches to the file-backed rows (event loop thread); keeps current delete flags."""
        self._ids, self._lsns, self._vectors = rows.ids, rows.lsns, rows.vectors
        self._deleted = self._deleted[: self.count].copy()
        self.unpersisted_rows_lsn = None
        self.state = SegmentState.FLUSHED

    def write_deletes(self, deleted: np.ndarray) -> None:
        storage.write_deletes(self.directory, deleted)

    def remove_files(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
