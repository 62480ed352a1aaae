"""The data node's logic: the segments it serves, persisted to the object store, and the
requests on them; consuming its channels from the log is datanode/channels.py.

Works on numpy arrays and dataclasses; server.py converts protobuf. Nothing acknowledged lives
only here: a write is in the log before it reaches the node, and a sealed segment counts as
flushed (and moves its channel's checkpoint) only once it is in the object store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import faiss
import numpy as np
import pyarrow as pa

from datanode import compaction, indexes, search, storage
from datanode.cache import MemoryCache
from datanode.channels import Channels, CoordinatorLink, ReadScope
from datanode.exact import GpuBruteForce
from datanode.objects import SegmentObjects
from datanode.segments import LocalSegment
from quiver import metrics, runtime
from quiver.catalogue import Metric
from quiver.devices import gpu_count
from quiver.errors import ErrorCode, QuiverError
from quiver.filters import Filter, parse_filter
from quiver.log import Log
from quiver.objectstore import ObjectNotFound
from quiver.schema import (
    Channel,
    IndexSpec,
    IndexState,
    RuntimeConfig,
    Segment,
    SegmentState,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
DAMAGED_DIR = "damaged"  # beside segments/: segments whose files could not be read at start-up
RECONCILE_CONCURRENCY = 16  # deletes files read from the object store at once when a channel starts


class DataNodeService:
    def __init__(
        self,
        node_id: str,
        data_dir: Path,
        coordinator: CoordinatorLink,
        objects: SegmentObjects,
        log_: Log,
        search_threads: int,
    ) -> None:
        self.node_id = node_id
        self.data_dir = data_dir
        self.segments_dir = data_dir / "segments"
        self.coordinator = coordinator
        self.objects = objects
        # Flushed segments being restored from the object store (the node's disk lost them):
        # requests on their collections wait for them rather than answer from part of the data.
        self._restoring: dict[int, Segment] = {}
        self._loading_indexes: set[int] = set()  # segments fetching an index another node's build left
        self.segments: dict[int, LocalSegment] = {}
        self.channels = Channels(
            node_id, self.segments, self.segments_dir, coordinator, log_, self._seal_later, self._restores,
            self._reconcile_deletes,
        )
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
        """Loads the flushed segments on disk (a cache: the coordinator says which to keep).
        Growing ones are discarded: their rows come back from the log."""
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        loaded = await self._in_thread(self._io, self._load_segments)
        self.segments.update((s.id, s) for s in loaded)
        log.info("found %d flushed segments on disk", len(self.segments))

    def _load_segments(self) -> list[LocalSegment]:
        directories = [d for d in sorted(self.segments_dir.iterdir()) if (d / "meta.json").exists()]
        compaction.finish_interrupted(directories)
        loaded = []
        for directory in directories:
            if not directory.exists():
                continue
            try:
                segment = LocalSegment.open(directory)
            except (OSError, ValueError, pa.ArrowException) as error:  # cut or corrupt files
                self._quarantine(directory, error)
                continue
            if segment.state is SegmentState.FLUSHED:
                loaded.append(segment)
            else:
                segment.remove_files()
        return loaded

    def _quarantine(self, directory: Path, error: Exception) -> None:
        """Moves a segment whose files cannot be read out of the way, so the node still starts
        and serves the rest; the files stay for an operator to inspect. The coordinator has the
        node restore it from the object store when it hears the node no longer has it."""
        damaged = self.data_dir / DAMAGED_DIR
        damaged.mkdir(exist_ok=True)
        directory.rename(damaged / directory.name)
        metrics.DAMAGED_SEGMENTS.inc()
        log.error("segment %s is damaged (%s): moved to %s", directory.name, error, damaged / directory.name)

    async def stop(self) -> None:
        await self.channels.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=True)
        self._io.shutdown(wait=True)

    # -- channels -----------------------------------------------------------------------------

    async def serve_channels(self, assigned: list[Channel]) -> None:
        await self.channels.serve(assigned)

    def channel_positions(self) -> list[Channel]:
        return self.channels.positions()

    def _restores(self, collection_id: int, shard: int) -> bool:
        return any(s.collection_id == collection_id and s.shard == shard for s in self._restoring.values())

    async def _parse(self, filter_text: str, segment: LocalSegment) -> Filter:
        """Parses in a worker thread: a long `in` list takes a while."""
        return await self._in_thread(self._pool, parse_filter, filter_text, segment.meta.schema.filter_schema)

    # -- sealing and persistence --------------------------------------------------------------

    def _seal_later(self, segment: LocalSegment) -> None:
        self._spawn(self._persist_and_report(segment))

    async def _persist_and_report(self, segment: LocalSegment) -> None:
        """Persists a sealed segment and tells the coordinator it is flushed (which queues its
        index build); a failure is logged, and persist_periodically tries again."""
        try:
            await self._persist(segment)
        except Exception:  # logged; the log still holds its rows
            return
        await self._report_flushed(segment)

    async def _report_flushed(self, segment: LocalSegment) -> None:
        while segment.id in self.segments:
            try:
                await self.coordinator.segment_flushed(segment.info(self.node_id))
                return
            except QuiverError as error:  # the next heartbeat reports it too
                log.warning("cannot report segment %d flushed yet: %s", segment.id, error.message)
                if not error.retriable:
                    return
                await asyncio.sleep(1.0)

    async def _persist(self, segment: LocalSegment) -> None:
        """Writes a sealed segment's files and uploads them to the object store; only then is
        it flushed (and its channel's checkpoint moves past its rows)."""
        async with segment.persist_lock:
            if segment.state is not SegmentState.SEALED:
                return  # persisted meanwhile
            snapshot, pending = segment.begin_persist()
            try:
                staged = await self._in_thread(self._io, segment.stage_rows, snapshot)
                await self.objects.upload_segment(segment.meta, staged)
                for path in staged:
                    await self._in_thread(self._io, storage.publish, path)
            except Exception as error:
                segment.persist_failed(pending)
                _log_persist_failure(f"segment {segment.id}", error)
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
                staged = await self._in_thread(self._io, segment.stage_deletes, deleted)
                await self.objects.upload_deletes(segment.meta, staged)
                await self._in_thread(self._io, storage.publish, staged)
            except Exception as error:
                segment.persist_failed(pending)
                _log_persist_failure(f"the deletes of segment {segment.id}", error)
                raise

    async def flush(self, collection_ids: list[int]) -> list[Segment]:
        """Seals and persists these collections' growing segments (all when empty), once every
        write acknowledged before the call is applied, and their pending deletes; returns the
        state of the collections' segments."""
        wanted = set(collection_ids)
        await self.channels.flush(wanted)
        chosen = [s for s in self.segments.values() if not wanted or s.meta.collection_id in wanted]
        for segment in chosen:
            if segment.state is SegmentState.SEALED:
                await self._persist(segment)
            elif segment.state is SegmentState.FLUSHED and segment.unpersisted_deletes_lsn is not None:
                await self._persist_deletes(segment)
        return [s.info(self.node_id) for s in chosen if s.id in self.segments]

    async def persist_periodically(self, stop: asyncio.Event, interval_s: float) -> None:
        """Persists what is still only in the log: sealed segments whose upload failed (the
        object store was away) and dirty delete bitmaps, so the channels' checkpoints move on
        (and the log is truncated) under delete-only traffic too."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
                return
            except TimeoutError:
                pass
            for segment in list(self.segments.values()):
                try:
                    if segment.state is SegmentState.SEALED and not segment.persist_lock.locked():
                        await self._persist(segment)
                        await self._report_flushed(segment)
                    elif segment.state is SegmentState.FLUSHED and segment.unpersisted_deletes_lsn is not None:
                        await self._persist_deletes(segment)
                except Exception:  # logged; the next round tries again
                    continue

    # -- restoring from the object store ------------------------------------------------------

    def restore(self, segments: list[Segment]) -> None:
        """Restores, in the background, flushed segments this node serves but no longer has
        (its disk was lost or wiped). Until each is back, requests on its collection fail with
        a retriable error rather than answer from part of the data."""
        for info in segments:
            if info.id not in self.segments and info.id not in self._restoring:
                self._restoring[info.id] = info
                self._spawn(self._restore(info))

    async def _restore(self, info: Segment) -> None:
        try:
            segment = await self._download(info)
            if segment is not None:
                self.segments[info.id] = segment
                log.info("segment %d restored from the object store: %d rows", info.id, segment.count)
        finally:
            del self._restoring[info.id]

    async def _download(self, info: Segment) -> LocalSegment | None:
        """The segment from the object store, retried until it arrives; None if it was dropped."""
        delay = 0.5
        while True:
            try:
                spec = await self.coordinator.segment_spec(info.id)
                index = spec.collection.vector_index
                built = index is not None and index.version == info.index_version and info.index_state is IndexState.FINISHED
                directory = self.segments_dir / str(info.id)
                await self.objects.restore_segment(info.collection_id, info.id, directory, index if built else None)
                return await self._in_thread(self._io, LocalSegment.open, directory)
            except ObjectNotFound as error:  # flushed in the catalogue, yet not in the bucket
                log.error("segment %d cannot be restored: %s", info.id, error.message)
                return None
            except QuiverError as error:
                if error.code is ErrorCode.SEGMENT_NOT_FOUND:  # dropped meanwhile
                    return None
                log.warning("restoring segment %d from the object store: %s; retrying", info.id, error.message)
            except (OSError, ValueError, pa.ArrowException) as error:
                log.warning("restoring segment %d from the object store: %s; retrying", info.id, error)
            await asyncio.sleep(delay)
            delay = min(2 * delay, 10.0)

    async def _reconcile_deletes(self, segments: list[LocalSegment]) -> None:
        """Adds to these flushed segments the deletes their copies in the bucket have, retried
        until the bucket answers: serving the channel without them would undo deletes."""

        async def reconcile(segment: LocalSegment) -> None:
            delay = 0.5
            while True:
                try:
                    async with fetching:
                        deleted = await self.objects.deletes(segment.meta.collection_id, segment.id, segment.count)
                    break
                except ObjectNotFound:  # dropped meanwhile: the coordinator has the node drop it
                    return
                except (QuiverError, OSError) as error:
                    log.warning("reading the deletes of segment %d from the object store: %s; retrying", segment.id, error)
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, 10.0)
            if added := segment.add_persisted_deletes(deleted):
                log.info("segment %d: %d deletes its copy in the object store had", segment.id, added)

        fetching = asyncio.Semaphore(RECONCILE_CONCURRENCY)
        await asyncio.gather(*(reconcile(s) for s in segments))

    def _check_complete(self, collection_id: int, shards: tuple[int, ...]) -> None:
        """Raises a retriable error while segments of these channels are being restored (not
        those of a channel this node restores only to take it over later)."""
        restoring = sorted(
            i for i, info in self._restoring.items() if info.collection_id == collection_id and info.shard in shards
        )
        if restoring:
            raise QuiverError(
                ErrorCode.UNAVAILABLE,
                f"data node {self.node_id} is restoring segment{'s' if len(restoring) > 1 else ''} "
                f"{', '.join(map(str, restoring))} from the object store; retry shortly",
            )

    async def drop_segments(self, segment_ids: list[int]) -> None:
        for segment_id in segment_ids:
            segment = self.segments.pop(segment_id, None)
            self.cache.forget(segment_id)
            if segment is not None:
                await self._in_thread(self._io, segment.remove_files)
                log.info("dropped segment %d", segment_id)
        await self._in_thread(self._io, runtime.return_free_memory)

    # -- compaction ---------------------------------------------------------------------------

    async def compact(self, segment_id: int, source_ids: list[int]) -> Segment:
        """Writes the live rows of flushed segments of one partition as a new segment, then
        drops them. Rows keep their ids and write sequence numbers, so deletes replayed from
        the log later still apply to them exactly."""
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
            staged = await self._in_thread(self._io, compaction.stage_compacted, meta, directory, taken)
            try:
                await self.objects.upload_segment(meta, staged)
            except BaseException:
                await self._in_thread(self._io, shutil.rmtree, directory, True)  # the sources stay
                raise
            for path in staged:
                await self._in_thread(self._io, storage.publish, path)
            compacted = await self._in_thread(self._io, LocalSegment.open, directory)
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
        await self._in_thread(self._io, runtime.return_free_memory)  # the sources' columns and indexes
        log.info("compacted segments %s into %d: %d rows", source_ids, segment_id, compacted.count)
        return compacted.info(self.node_id)

    # -- indexes ------------------------------------------------------------------------------

    async def load_index(self, segment_id: int, spec: IndexSpec) -> None:
        """Downloads a built index from the object store beside its segment, loads it, and
        switches searches to it."""
        segment = self.segments.get(segment_id)
        if segment is None or segment.state is not SegmentState.FLUSHED:
            raise QuiverError(ErrorCode.SEGMENT_NOT_FOUND, f"segment {segment_id} is not flushed on {self.node_id}")
        directory = segment.directory
        try:
            await self.objects.fetch_index(segment.meta.collection_id, segment_id, directory, spec)
            loaded = await self._in_thread(self._io, indexes.load, directory, spec, segment.meta.layout)
            mapped = await self._in_thread(self._io, storage.read_rows, directory, segment.meta.layout)
        except Exception:  # whatever reading files that vanished raises (faiss, Arrow, the OS)
            if self.segments.get(segment_id) is not segment:  # dropped meanwhile, with its files
                await self._in_thread(self._io, self._forget_fetched_index, segment_id, directory, spec.version)
                raise QuiverError(ErrorCode.SEGMENT_NOT_FOUND, f"segment {segment_id} left {self.node_id}") from None
            raise
        if self.segments.get(segment_id) is not segment:
            await self._in_thread(self._io, self._forget_fetched_index, segment_id, directory, spec.version)
            return
        if not segment.use_index(spec, loaded, mapped.vectors):
            return  # a newer index arrived first
        await self._in_thread(self._io, indexes.remove_older, directory, spec.version)
        await self._in_thread(self._io, runtime.return_free_memory)  # the replaced index
        log.info("segment %d now searched with %s index %d", segment_id, spec.index_type, spec.version)
        if segment.is_resident:
            self.cache.touch([segment])

    def _forget_fetched_index(self, segment_id: int, directory: Path, version: int) -> None:
        """Deletes an index fetched for a copy of the segment that was dropped during the fetch
        (which may have written into the dropped copy's folder again), unless a copy that came
        back since serves that very index."""
        current = self.segments.get(segment_id)
        if current is not None and current.index_spec is not None and current.index_spec.version == version:
            return
        indexes.remove_version(directory, version)
        if current is None:
            with contextlib.suppress(OSError):  # not empty: other files are not this load's to delete
                directory.rmdir()

    async def drop_indexes(self, segment_ids: list[int]) -> None:
        """The index was dropped: these segments are searched by brute force from now."""
        await self._drop_indexes({segment_id: None for segment_id in segment_ids})

    async def keep_indexes(self, versions: dict[int, int]) -> None:
        """Makes each segment serve the index version the coordinator says (0: none): drops the
        others, and loads from the object store one that was built while another node served
        the segment."""
        await self._drop_indexes({
            segment_id: s.index_spec.version
            for segment_id, wanted in versions.items()
            if (s := self.segments.get(segment_id)) and s.index_spec and s.index_spec.version != wanted
        })
        for segment_id, wanted in versions.items():
            if wanted and segment_id in self.segments and segment_id not in self._loading_indexes:
                self._loading_indexes.add(segment_id)
                self._spawn(self._load_built_index(segment_id, wanted))

    async def _load_built_index(self, segment_id: int, version: int) -> None:
        try:
            spec = (await self.coordinator.segment_spec(segment_id)).collection.vector_index
            if spec is not None and spec.version == version:
                await self.load_index(segment_id, spec)
                log.info("segment %d loaded index %d built while another node served it", segment_id, version)
        except QuiverError as error:  # the next heartbeat says so again
            log.warning("segment %d: loading index %d failed: %s", segment_id, version, error.message)
        finally:
            self._loading_indexes.discard(segment_id)

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

    async def _chosen(
        self, collection_id: int, partition_ids: list[int], segment_ids: list[int], scope: ReadScope
    ) -> list[LocalSegment]:
        """The segments a read covers, once the channels it names are fresh enough."""
        await self.channels.wait_fresh(collection_id, scope.shards, scope.consistency, scope.session)
        self._check_complete(collection_id, scope.shards)
        partitions, chosen, shards = set(partition_ids), set(segment_ids), set(scope.shards)
        return [
            s
            for s in self.segments.values()
            if s.meta.collection_id == collection_id
            and s.meta.shard in shards
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
        scope: ReadScope = ReadScope(),
    ) -> search.Hits:
        """The best k rows per query that pass the filter, with their output fields."""
        chosen = await self._chosen(collection_id, partition_ids, segment_ids, scope)
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
        scope: ReadScope = ReadScope(),
    ) -> tuple[int, np.ndarray, pa.Table | None]:
        """How many live rows pass the filter, and the first `limit` of them by id with their
        output fields."""
        chosen = await self._chosen(collection_id, partition_ids, [], scope)
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

    async def get_vectors(
        self, collection_id: int, ids: np.ndarray, scope: ReadScope = ReadScope()
    ) -> tuple[np.ndarray, np.ndarray]:
        """The live rows with these ids (the newest one where an id repeats). Vectors of
        segments that are not resident are read from their files, without caching them."""
        segments = await self._chosen(collection_id, [], [], scope)
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


def _log_persist_failure(what: str, error: Exception) -> None:
    """One line for every failed persist: until one succeeds, the log keeps what it would hold."""
    if isinstance(error, QuiverError):
        log.warning("%s is not persisted yet, the log keeps it: %s", what, error.message)
    else:
        log.exception("persisting %s failed; the log keeps it", what)
