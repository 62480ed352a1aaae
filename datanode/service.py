"""The data node's logic: segments, the write-ahead log, recovery, and the requests on them.

Works on numpy arrays and dataclasses; server.py converts protobuf. Every mutation is in the
WAL (fsynced, group-committed) before it is applied and acknowledged, and the WAL is only cut
behind what segment files on disk already hold.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import faiss
import numpy as np
import pyarrow as pa

from datanode import compaction, indexes, search, storage
from datanode.cache import MemoryCache
from datanode.exact import GpuBruteForce
from datanode.segments import LocalSegment
from datanode.storage import SegmentMeta
from datanode.tokens import RecentInserts
from datanode.wal import Record, RecordKind, WriteAheadLog
from quiver import metrics, runtime
from quiver.catalogue import Metric
from quiver.devices import gpu_count
from quiver.errors import ErrorCode, QuiverError, storage_error
from quiver.packing import ID_DTYPE, unpack_table
from quiver.schema import (
    Collection,
    IndexSpec,
    RuntimeConfig,
    Segment,
    SegmentState,
)
from quiver.filters import Filter, parse_filter

log = logging.getLogger(__name__)

T = TypeVar("T")
# INSERT records: head, ids, vectors, then the scalar columns as an Arrow IPC stream (if any).
_INSERT_HEAD = struct.Struct("<qqQ")  # segment id, row count, the request's token (0: none)
# DELETE records: head, the partition ids it is limited to (none: all), then the row ids.
_DELETE_HEAD = struct.Struct("<qq")  # collection id, number of partition ids
DAMAGED_DIR = "damaged"  # beside segments/: segments whose files could not be read at start-up


@dataclass(frozen=True)
class SegmentSpec:
    """What the coordinator says about a segment before the node stores its first row."""

    segment: Segment
    collection: Collection


class CoordinatorLink(Protocol):
    """What the service needs from the coordinator (implemented over gRPC in server.py)."""

    async def segment_spec(self, segment_id: int) -> SegmentSpec: ...

    async def segment_sealed(self, segment: Segment) -> None: ...


class DataNodeService:
    def __init__(
        self,
        node_id: str,
        data_dir: Path,
        coordinator: CoordinatorLink,
        search_threads: int,
        wal_rotate_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.node_id = node_id
        self.data_dir = data_dir
        self.segments_dir = data_dir / "segments"
        self.coordinator = coordinator
        self.wal = WriteAheadLog(data_dir / "wal", wal_rotate_bytes)
        self.segments: dict[int, LocalSegment] = {}
        self._opening: dict[int, asyncio.Future[LocalSegment]] = {}
        self._unapplied: set[int] = set()  # LSNs appended to the WAL but not applied yet
        self._recent = RecentInserts()  # insert tokens, for retries of the same request
        self._pool = ThreadPoolExecutor(max_workers=search_threads, thread_name_prefix="search")
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="persist")
        self._tasks: set[asyncio.Task[None]] = set()
        self._compaction_lock = asyncio.Lock()
        self.config = RuntimeConfig()
        self.gpus = gpu_count()
        self._gpu: GpuBruteForce | None = None
        self.cache = MemoryCache(lambda segment: self._in_thread(self._io, segment.read_resident))
        self.cache.capacity_bytes = self.config.cache_capacity_bytes

    async def _in_thread(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # -- start and stop -----------------------------------------------------------------------

    async def start(self) -> None:
        """Loads segments, replays the WAL, and persists what the replay rebuilt."""
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        loaded = await self._in_thread(self._io, self._load_segments)
        self.segments = {s.id: s for s in loaded}
        for segment in loaded:
            self.wal.advance_to(segment.max_lsn)
        records = await self._in_thread(self._io, self.wal.open)
        for record in records:
            self._replay(record)
        replayed = [s for s in self.segments.values() if s.state is SegmentState.GROWING and s.count]
        log.info(
            "recovered %d segments, replayed %d WAL records into %d growing segments",
            len(self.segments), len(records), len(replayed),
        )
        # A replayed segment may no longer be its partition's active one: seal it rather than
        # leave it growing with no writer.
        for segment in replayed:
            segment.state = SegmentState.SEALED
            await self._persist(segment)
        await self._checkpoint()

    def _load_segments(self) -> list[LocalSegment]:
        directories = [d for d in sorted(self.segments_dir.iterdir()) if (d / "meta.json").exists()]
        compaction.finish_interrupted(directories)
        loaded = []
        for directory in directories:
            if not directory.exists():
                continue
            try:
                loaded.append(LocalSegment.open(directory))
            except (OSError, ValueError, pa.ArrowException) as error:  # cut or corrupt files
                self._quarantine(directory, error)
        return loaded

    def _quarantine(self, directory: Path, error: Exception) -> None:
        """Moves a segment whose files cannot be read out of the way, so the node still starts
        and serves the rest. Its rows are lost on this node: the coordinator forgets the segment
        once the node no longer reports it, and the files stay for an operator to inspect."""
        damaged = self.data_dir / DAMAGED_DIR
        damaged.mkdir(exist_ok=True)
        directory.rename(damaged / directory.name)
        metrics.DAMAGED_SEGMENTS.inc()
        log.error("segment %s is damaged (%s): moved to %s", directory.name, error, damaged / directory.name)

    def _replay(self, record: Record) -> None:
        if record.kind is RecordKind.INSERT:
            segment_id, rows, token = _INSERT_HEAD.unpack_from(record.body)
            self._recent.stored(token)
            segment = self.segments.get(segment_id)
            if segment is None or segment.state is not SegmentState.GROWING:
                return  # dropped, or its rows are already in its file
            body = memoryview(record.body)
            ids = np.frombuffer(body, dtype=ID_DTYPE, count=rows, offset=_INSERT_HEAD.size)
            start = _INSERT_HEAD.size + ids.nbytes
            end = start + rows * segment.meta.layout.row_bytes
            vectors = segment.meta.layout.unpack(body[start:end], rows)
            segment.append(ids, vectors, _decode_scalars(body[end:], segment), record.lsn)
        else:
            collection_id, partitions = _DELETE_HEAD.unpack_from(record.body)
            ids = np.frombuffer(record.body, dtype=ID_DTYPE, offset=_DELETE_HEAD.size)
            self._apply_delete(collection_id, set(ids[:partitions].tolist()), ids[partitions:], record.lsn)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._in_thread(self._io, self.wal.close)
        self._pool.shutdown(wait=True)
        self._io.shutdown(wait=True)

    # -- writes -------------------------------------------------------------------------------

    async def _segment(self, segment_id: int) -> LocalSegment:
        """The local segment, created from the coordinator's spec on its first insert."""
        segment = self.segments.get(segment_id)
        if segment is not None:
            return segment
        opening = self._opening.get(segment_id)
        if opening is None:
            opening = asyncio.get_running_loop().create_future()
            self._opening[segment_id] = opening
            try:
                opening.set_result(await self._create_segment(segment_id))
            except BaseException as error:
                opening.set_exception(error)
                opening.exception()  # retrieved: concurrent waiters re-raise it, this one too
                raise
            finally:
                del self._opening[segment_id]
        return await asyncio.shield(opening)

    async def _create_segment(self, segment_id: int) -> LocalSegment:
        spec = await self.coordinator.segment_spec(segment_id)
        if spec.segment.node_id != self.node_id:
            raise QuiverError(
                ErrorCode.SEGMENT_NOT_FOUND,
                f"segment {segment_id} belongs to data node {spec.segment.node_id}, "
                f"not {self.node_id}",
            )
        meta = SegmentMeta(
            id=segment_id,
            collection_id=spec.collection.id,
            partition_id=spec.segment.partition_id,
            schema=spec.collection.schema,
            seal_bytes=spec.collection.growing_seal_bytes,
        )
        directory = self.segments_dir / str(segment_id)
        segment = await self._in_thread(self._io, LocalSegment.create, meta, directory)
        self.segments[segment_id] = segment
        return segment

    async def insert(
        self, segment_id: int, rows: int, ids: bytes, vectors: bytes, scalars: bytes, token: int = 0
    ) -> None:
        """Stores rows durably. A request whose token this node has seen recently (a retry after
        a lost reply, here or before a restart) is acknowledged without storing it twice."""
        earlier = self._recent.get(token)
        if earlier is True or (isinstance(earlier, asyncio.Future) and await asyncio.shield(earlier)):
            return
        segment = await self._segment(segment_id)
        if segment.state is not SegmentState.GROWING:
            raise QuiverError(
                ErrorCode.SEGMENT_NOT_GROWING, f"segment {segment_id} is sealed and takes no rows"
            )
        id_array = np.frombuffer(ids, dtype=ID_DTYPE)
        vector_array = segment.meta.layout.unpack(vectors)
        scalar_table = _decode_scalars(scalars, segment)
        scalar_rows = rows if scalar_table is None else scalar_table.num_rows
        if rows < 1 or len(id_array) != rows or len(vector_array) != rows or scalar_rows != rows:
            raise QuiverError(
                ErrorCode.INVALID_VECTORS,
                f"{rows} rows announced, {len(id_array)} ids, {len(vector_array)} vectors and "
                f"{scalar_rows} rows of scalar fields sent",
            )
        segment.inflight += 1
        segment.drained.clear()
        outcome = self._recent.pending(token)
        try:
            head = _INSERT_HEAD.pack(segment_id, rows, token)
            lsn = await self._append(RecordKind.INSERT, [head, ids, vectors, scalars])
            segment.append(id_array, vector_array, scalar_table, lsn)
            self._unapplied.discard(lsn)
            metrics.ROWS_INSERTED.inc(rows)
            outcome.set_result(True)
            self._recent.stored(token)
        finally:
            if not outcome.done():  # not stored: the same request may try again
                outcome.set_result(False)
                self._recent.forget(token)
            segment.inflight -= 1
            if not segment.inflight:
                segment.drained.set()
        if segment.is_full and not segment.seal_requested:
            segment.seal_requested = True
            self._spawn(self._seal_full(segment))

    async def _append(self, kind: RecordKind, parts: list[bytes]) -> int:
        """Makes a record durable; the caller applies it, then discards its LSN from _unapplied."""
        lsn, durable = self.wal.submit(kind, parts)
        self._unapplied.add(lsn)
        try:
            await durable
        except OSError as error:
            self._unapplied.discard(lsn)
            raise storage_error(error, f"data node {self.node_id}") from None
        return lsn

    async def delete(
        self,
        collection_id: int,
        partition_ids: list[int],
        ids: np.ndarray,
        filter_text: str = "",
        indexed_fields: frozenset[str] = frozenset(),
    ) -> int:
        """Deletes rows by id, or the rows a filter matches now (resolved to their ids before
        the record is logged, so a replay deletes exactly the same rows)."""
        if filter_text:
            ids = await self._matching_ids(collection_id, partition_ids, filter_text, indexed_fields)
        if not len(ids):
            return 0
        head = _DELETE_HEAD.pack(collection_id, len(partition_ids))
        parts = [head, np.asarray(partition_ids, dtype=ID_DTYPE).tobytes(), ids.astype(ID_DTYPE).tobytes()]
        lsn = await self._append(RecordKind.DELETE, parts)
        deleted = self._apply_delete(collection_id, set(partition_ids), ids, lsn)
        self._unapplied.discard(lsn)
        metrics.ROWS_DELETED.inc(deleted)
        return deleted

    def _apply_delete(self, collection_id: int, partitions: set[int], ids: np.ndarray, lsn: int) -> int:
        return sum(
            s.delete(ids, lsn)
            for s in self.segments.values()
            if s.meta.collection_id == collection_id
            and (not partitions or s.meta.partition_id in partitions)
        )

    async def _parse(self, filter_text: str, segment: LocalSegment) -> Filter:
        """Parses in a worker thread: a long `in` list takes a while."""
        return await self._in_thread(self._pool, parse_filter, filter_text, segment.meta.schema.filter_schema)

    async def _matching_ids(
        self, collection_id: int, partition_ids: list[int], filter_text: str, indexed: frozenset[str]
    ) -> np.ndarray:
        chosen = self._chosen(collection_id, partition_ids, [])
        if not chosen:
            return np.empty(0, dtype=np.int64)
        condition = await self._parse(filter_text, chosen[0])
        await self.cache.make_resident(chosen)
        try:
            snapshots = [s.snapshot() for s in chosen]
            return await self._in_thread(self._pool, search.matching_ids, snapshots, condition, indexed)
        finally:
            self.cache.evict()

    # -- sealing and persistence --------------------------------------------------------------

    async def _seal_full(self, segment: LocalSegment) -> None:
        """Seals a segment that reached its size, once the coordinator stops assigning it.

        Until the coordinator has heard of it the segment keeps taking rows: a proxy that asks
        for an assignment must never be sent back to a segment that refuses them.
        """
        while segment.id in self.segments:
            try:
                await self.coordinator.segment_sealed(segment.info(self.node_id))
                break
            except QuiverError as error:
                log.warning("cannot report segment %d sealed yet: %s", segment.id, error.message)
                await asyncio.sleep(1.0)
        if segment.state is not SegmentState.GROWING:
            return  # a flush sealed it meanwhile
        segment.state = SegmentState.SEALED
        try:
            await self._persist(segment)
            await self._checkpoint()
        except Exception:  # the WAL still holds the rows; the next flush retries the write
            log.exception("persisting sealed segment %d failed", segment.id)

    async def _persist(self, segment: LocalSegment) -> None:
        """Writes a sealed segment's file once its in-flight inserts are applied."""
        async with segment.persist_lock:
            if segment.state is not SegmentState.SEALED:
                return  # persisted meanwhile
            await segment.drained.wait()
            snapshot, pending = segment.begin_persist()
            try:
                await self._in_thread(self._io, segment.write_rows, snapshot)
            except Exception:
                segment.persist_failed(pending)
                raise
            if segment.id in self.segments:
                segment.mark_flushed()
                log.info("segment %d persisted: %d rows", segment.id, segment.count)
                if self.config.cache_insert_data:
                    self.cache.touch([segment])
                else:  # searched from the files until a search needs it again
                    segment.evict()

    async def _persist_deletes(self, segment: LocalSegment) -> None:
        async with segment.persist_lock:
            deleted, pending = segment.begin_persist_deletes()
            try:
                await self._in_thread(self._io, segment.write_deletes, deleted)
            except Exception:
                segment.persist_failed(pending)
                raise

    async def _checkpoint(self) -> None:
        """Removes WAL files that hold nothing the segment files lack."""
        needed = [self.wal.next_lsn, *self._unapplied]
        for segment in self.segments.values():
            needed += [
                lsn
                for lsn in (segment.unpersisted_rows_lsn, segment.unpersisted_deletes_lsn)
                if lsn is not None
            ]
        await self._in_thread(self._io, self.wal.remove_before, min(needed))

    async def flush(self, collection_ids: list[int]) -> list[Segment]:
        """Seals and persists growing segments and pending deletes; returns their state."""
        wanted = set(collection_ids)
        chosen = [
            s for s in self.segments.values() if not wanted or s.meta.collection_id in wanted
        ]
        for segment in chosen:
            if segment.state is SegmentState.GROWING:
                segment.state = SegmentState.SEALED
        for segment in chosen:
            if segment.state is SegmentState.SEALED:
                await self._persist(segment)
            elif segment.unpersisted_deletes_lsn is not None:
                await self._persist_deletes(segment)
        await self._checkpoint()
        return [s.info(self.node_id) for s in chosen]

    async def persist_deletes_periodically(self, stop: asyncio.Event, interval_s: float) -> None:
        """Bounds the WAL under delete-only traffic by writing dirty delete bitmaps."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
                return
            except TimeoutError:
                pass
            dirty = [
                s for s in self.segments.values()
                if s.state is SegmentState.FLUSHED and s.unpersisted_deletes_lsn is not None
            ]
            try:
                for segment in dirty:
                    await self._persist_deletes(segment)
                await self._checkpoint()
            except Exception:
                log.exception("persisting deletes failed; the WAL keeps them")

    async def drop_segments(self, segment_ids: list[int]) -> None:
        for segment_id in segment_ids:
            segment = self.segments.pop(segment_id, None)
            self.cache.forget(segment_id)
            if segment is not None:
                await self._in_thread(self._io, segment.remove_files)
                log.info("dropped segment %d", segment_id)
        await self._checkpoint()
        await self._in_thread(self._io, runtime.return_free_memory)

    # -- compaction ---------------------------------------------------------------------------

    async def compact(self, segment_id: int, source_ids: list[int]) -> Segment:
        """Writes the live rows of flushed segments of one partition as a new segment, then
        drops them. Rows keep their ids and write sequence numbers, so WAL deletes replayed
        later still apply to them exactly."""
        sources = [self.segments.get(i) for i in source_ids]
        if segment_id in self.segments or not sources or any(
            s is None or s.state is not SegmentState.FLUSHED for s in sources
        ):
            raise QuiverError(
                ErrorCode.SEGMENT_NOT_FOUND,
                f"segments {source_ids} are not all flushed on {self.node_id}",
            )
        first = sources[0]
        assert first is not None
        if any(s.meta.partition_id != first.meta.partition_id for s in sources if s):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "compacted segments must share a partition")
        async with self._compaction_lock:
            taken = [(s, s.ids_and_deletes()[2].copy()) for s in sources if s]
            meta = replace(first.meta, id=segment_id, replaces=tuple(source_ids))
            directory = self.segments_dir / str(segment_id)
            compacted = await self._in_thread(self._io, compaction.write_compacted, meta, directory, taken)
            # From here to the end of the swap nothing awaits: searches see old or new.
            compaction.carry_new_deletes(compacted, taken)
            self.segments[segment_id] = compacted
            for source, _ in taken:
                self.segments.pop(source.id, None)
                self.cache.forget(source.id)
        if compacted.unpersisted_deletes_lsn is not None:
            await self._persist_deletes(compacted)
        for source, _ in taken:
            await self._in_thread(self._io, source.remove_files)
        await self._checkpoint()
        await self._in_thread(self._io, runtime.return_free_memory)  # the sources' columns and indexes
        log.info("compacted segments %s into %d: %d rows", source_ids, segment_id, compacted.count)
        return compacted.info(self.node_id)

    # -- indexes ------------------------------------------------------------------------------

    async def rows_for_build(self, segment_id: int) -> np.ndarray:
        """A flushed segment's vectors, in row order (the labels of the index built on them).
        Read from the file when not resident: a build does not displace cached segments."""
        segment = self.segments.get(segment_id)
        if segment is None:
            raise QuiverError(ErrorCode.SEGMENT_NOT_FOUND, f"segment {segment_id} is not on {self.node_id}")
        if segment.state is not SegmentState.FLUSHED:
            raise QuiverError(ErrorCode.SEGMENT_NOT_GROWING, f"segment {segment_id} is not flushed yet")
        if segment.is_resident:
            return segment.snapshot().vectors
        return await self._in_thread(self._io, lambda: storage.read_rows(segment.directory, segment.meta.layout).vectors)

    async def load_index(
        self, segment_id: int, spec: IndexSpec, chunks: AsyncIterator[bytes]
    ) -> None:
        """Stores an uploaded index beside its segment, loads it, and switches searches to it."""
        segment = self.segments.get(segment_id)
        if segment is None or segment.state is SegmentState.GROWING:
            raise QuiverError(ErrorCode.SEGMENT_NOT_FOUND, f"segment {segment_id} is not sealed on {self.node_id}")
        directory = segment.directory
        final = indexes.data_path(directory, spec.version)
        temp = final.with_name(final.name + ".tmp")
        out = await self._in_thread(self._io, open, temp, "wb")
        try:
            async for data in chunks:
                await self._in_thread(self._io, out.write, data)
            await self._in_thread(self._io, _sync_and_close, out)
        except BaseException:
            out.close()
            temp.unlink(missing_ok=True)
            raise
        await self._in_thread(self._io, _publish_index, temp, final, directory, spec)
        loaded = await self._in_thread(self._io, indexes.load, directory, spec, segment.meta.layout)
        mapped = await self._in_thread(self._io, storage.read_rows, directory, segment.meta.layout)
        if self.segments.get(segment_id) is not segment or not segment.use_index(spec, loaded, mapped.vectors):
            return  # dropped, or a newer index arrived first
        await self._in_thread(self._io, indexes.remove_older, directory, spec.version)
        await self._in_thread(self._io, runtime.return_free_memory)  # the replaced index, the upload
        log.info("segment %d now searched with %s index %d", segment_id, spec.index_type, spec.version)
        if segment.is_resident:
            self.cache.touch([segment])

    async def drop_indexes(self, segment_ids: list[int]) -> None:
        """The index was dropped: these segments are searched by brute force from now."""
        await self._drop_indexes({segment_id: None for segment_id in segment_ids})

    async def keep_indexes(self, versions: dict[int, int]) -> None:
        """Drops the indexes that are not the version each segment should serve (0: none)."""
        await self._drop_indexes({
            segment_id: s.index_spec.version
            for segment_id, wanted in versions.items()
            if (s := self.segments.get(segment_id)) and s.index_spec and s.index_spec.version != wanted
        })

    async def _drop_indexes(self, versions: dict[int, int | None]) -> None:
        """Drops each segment's index if it is still the given version (None: any), with its
        files only: a newer version may be arriving beside it."""
        for segment_id, version in versions.items():
            segment = self.segments.get(segment_id)
            dropped = segment.drop_index(version) if segment is not None else None
            if dropped is not None:
                await self._in_thread(self._io, indexes.remove_version, segment.directory, dropped.version)
                log.info("segment %d dropped index %d", segment_id, dropped.version)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- runtime settings and the memory cache ------------------------------------------------

    async def apply_config(self, config: RuntimeConfig) -> None:
        """Runtime settings from the coordinator: BLAS threshold and cache size apply at once."""
        self.config = config
        faiss.cvar.distance_compute_blas_threshold = config.use_blas_threshold
        device = next((d for d in config.gpu_search_devices if d < self.gpus), None)
        if config.gpu_enable and device is not None:
            self._gpu = GpuBruteForce(device, config.gpu_search_threshold)
        else:
            self._gpu = None
        self.cache.capacity_bytes = config.cache_capacity_bytes
        self.cache.evict()

    async def load(self, collection_ids: list[int]) -> int:
        """Loads these collections' segments and indexes into memory, up to the cache size."""
        chosen = [s for s in self.segments.values() if s.meta.collection_id in set(collection_ids)]
        for segment in chosen:
            await self.cache.make_resident([segment])
        self.cache.evict()
        return sum(s.is_resident for s in chosen)

    # -- reads --------------------------------------------------------------------------------

    def _chosen(
        self, collection_id: int, partition_ids: list[int], segment_ids: list[int]
    ) -> list[LocalSegment]:
        partitions, chosen = set(partition_ids), set(segment_ids)
        return [
            s
            for s in self.segments.values()
            if s.meta.collection_id == collection_id
            and (not partitions or s.meta.partition_id in partitions)
            and (not chosen or s.id in chosen)
            and s.count
        ]

    async def search(
        self,
        collection_id: int,
        partition_ids: list[int],
        segment_ids: list[int],
        queries: np.ndarray,
        k: int,
        metric: Metric,
        params: dict[str, Any],
        filter_text: str = "",
        output_fields: list[str] | None = None,
        indexed_fields: frozenset[str] = frozenset(),
    ) -> search.Hits:
        """The best k rows per query that pass the filter, with their output fields."""
        chosen = self._chosen(collection_id, partition_ids, segment_ids)
        condition = await self._parse(filter_text, chosen[0]) if filter_text and chosen else None
        await self.cache.make_resident(chosen)
        snapshots = [s.snapshot() for s in chosen]
        try:
            for snapshot in snapshots:
                if snapshot.vectors.shape[1] != queries.shape[1] or snapshot.vectors.dtype != queries.dtype:
                    raise QuiverError(
                        ErrorCode.INVALID_DIMENSION,
                        f"query vectors of {queries.shape[1]} {queries.dtype} do not match segment "
                        f"{snapshot.segment_id} ({snapshot.vectors.shape[1]} {snapshot.vectors.dtype})",
                    )
            task = search.SearchTask(
                queries, k, metric, params, condition, output_fields or [], self._gpu, indexed_fields
            )
            if task.is_light(snapshots):  # cheaper done here than handed to a thread
                return task.run(snapshots)
            return await self._in_thread(self._pool, task.run, snapshots)
        finally:
            self.cache.evict()  # back within the cache size once the search is done

    async def query(
        self,
        collection_id: int,
        partition_ids: list[int],
        filter_text: str,
        output_fields: list[str],
        limit: int,
        indexed_fields: frozenset[str] = frozenset(),
    ) -> tuple[int, np.ndarray, pa.Table | None]:
        """How many live rows pass the filter, and the first `limit` of them by id with their
        output fields."""
        chosen = self._chosen(collection_id, partition_ids, [])
        if not chosen:
            return 0, np.empty(0, dtype=np.int64), None
        condition = await self._parse(filter_text, chosen[0]) if filter_text else None
        if condition is None and not limit:  # a plain count needs no column
            return sum(s.count - s.deleted_count for s in chosen), np.empty(0, dtype=np.int64), None
        await self.cache.make_resident(chosen)
        try:
            snapshots = [s.snapshot() for s in chosen]
            return await self._in_thread(
                self._pool, search.query_rows, snapshots, condition, output_fields, limit, indexed_fields
            )
        finally:
            self.cache.evict()

    async def get_vectors(self, collection_id: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The live rows with these ids (the newest one where an id repeats). Vectors of
        segments that are not resident are read from their files, without caching them."""
        segments = self._chosen(collection_id, [], [])
        return await self._in_thread(self._pool, search.lookup, segments, ids)

    async def segment_rows(
        self, segment_id: int, offset: int, limit: int
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """A page of a segment's live rows in storage order: (live rows in all, ids, vectors)."""
        segment = self.segments.get(segment_id)
        if segment is None:
            raise QuiverError(ErrorCode.SEGMENT_NOT_FOUND, f"segment {segment_id} is not on {self.node_id}")
        return await self._in_thread(self._pool, search.page, segment, offset, limit)

    def segment_infos(self) -> list[Segment]:
        return [s.info(self.node_id) for s in self.segments.values()]

    async def collect_metrics(self) -> None:
        segments = list(self.segments.values())
        for state in SegmentState:
            metrics.SEGMENTS.labels(state=state.name.lower()).set(sum(1 for s in segments if s.state is state))
        metrics.ROWS_STORED.set(sum(s.count for s in segments))
        metrics.RESIDENT_BYTES.set(sum(s.resident_bytes for s in segments))


def _decode_scalars(data: bytes | memoryview, segment: LocalSegment) -> pa.Table | None:
    """The scalar columns of an insert (an Arrow IPC stream); they must match the schema."""
    if not segment.has_scalars:
        if len(data):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "this collection has no scalar fields")
        return None
    expected = segment.meta.schema.scalar_schema
    table = unpack_table(bytes(data))
    if table is None or not table.schema.equals(expected):
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER, f"scalar fields {table.schema} do not match the schema {expected}"
        )
    return table


def _sync_and_close(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()


def _publish_index(temp: Path, final: Path, directory: Path, spec: IndexSpec) -> None:
    os.replace(temp, final)
    indexes.save_spec(directory, spec)  # last: a spec file marks a complete index


