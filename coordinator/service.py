"""The coordinator's logic: collections, id blocks, segment placement, node membership.

Works on the dataclasses of quiver.schema; server.py converts them to and from protobuf.
Everything that must survive a restart is in Redis (catalog.py); what is kept in memory here
(the current id block, locks, watchers) is rebuilt or safely lost on restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from enum import Enum

from coordinator.catalog import Catalog
from coordinator.compaction import compaction_plan, worth_compacting
from coordinator.datanodes import DataNodes
from coordinator.placement import Placement
from quiver import bucket, metrics
from quiver.catalogue import IndexFamily, check_metric
from quiver.errors import METADATA_STORE_DOWN, ErrorCode, QuiverError
from quiver.ids import now_ms
from quiver.log import Log
from quiver.runtime import first_of
from quiver.schema import (
    DEFAULT_PARTITION,
    Channel,
    Collection,
    IdMode,
    IndexProgress,
    IndexSpec,
    IndexState,
    Node,
    NodeRole,
    Partition,
    RuntimeConfig,
    Segment,
    SegmentState,
    validate_collection,
    validate_collection_name,
)

log = logging.getLogger(__name__)

MAX_IDS_PER_REQUEST = 10_000_000
MAX_PARTITIONS = 4096
MAX_PARTITION_NAME = 255
# With automatic compaction on, a flushed segment with this share of its rows deleted is
# compacted at once, and indexed only then: building an index mostly of deleted rows is waste.
COMPACT_BEFORE_BUILD_SHARE = 0.5


class ChangeKind(Enum):
    COLLECTION = "collection"
    NODES = "nodes"


@dataclass(frozen=True)
class CatalogChange:
    kind: ChangeKind
    collection_id: int = 0
    collection_name: str = ""


class ChangeFeed:
    """Fans catalog changes out to every watching proxy."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[CatalogChange]] = set()

    def publish(self, change: CatalogChange) -> None:
        for queue in self._queues:
            queue.put_nowait(change)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[CatalogChange]]:
        queue: asyncio.Queue[CatalogChange] = asyncio.Queue()
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)


class IdBlocks:
    """Hands out ids from a block reserved in Redis; a new block when it runs out."""

    def __init__(self, catalog: Catalog, block_size: int) -> None:
        self._catalog = catalog
        self._block_size = block_size
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def allocate(self, count: int) -> int:
        async with self._lock:
            if self._end - self._next < count:
                size = max(count, self._block_size)
                self._next = await self._catalog.allocate_ids(size)
                self._end = self._next + size
            start = self._next
            self._next += count
            return start


def index_progress(
    spec: IndexSpec, segments: list[Segment], min_build_rows: int
) -> IndexProgress:
    """How far the builds of an index are: sealed segments big enough to index count."""
    total = sum(s.row_count for s in segments)
    if not spec.catalogue_type.builds_for(spec.metric_type):
        return IndexProgress(total, total, 0, IndexState.FINISHED)
    wanted = [
        s for s in segments
        if s.state is not SegmentState.GROWING and s.row_count >= min_build_rows
    ]
    current = [s for s in wanted if s.index_version == spec.version]
    indexed = sum(s.row_count for s in current if s.index_state is IndexState.FINISHED)
    failed = [s for s in current if s.index_state is IndexState.FAILED]
    pending = sum(s.row_count for s in wanted) - indexed - sum(s.row_count for s in failed)
    if failed:
        reason = f"segment {failed[0].id}: {failed[0].index_reason}"
        return IndexProgress(total, indexed, pending, IndexState.FAILED, reason)
    state = IndexState.FINISHED if pending == 0 else IndexState.BUILDING
    return IndexProgress(total, indexed, pending, state)


class CoordinatorService:
    def __init__(
        self,
        catalog: Catalog,
        datanodes: DataNodes,
        log_: Log,
        node_ttl_s: float,
        min_build_rows: int = 4096,
        id_block: int = 100_000,
        auto_compact_s: float = 0.0,
    ) -> None:
        self.catalog = catalog
        self.datanodes = datanodes
        self.log = log_
        self.placement = Placement(catalog)
        self.node_ttl_s = node_ttl_s
        self.min_build_rows = min_build_rows
        self.ids = IdBlocks(catalog, id_block)
        self.changes = ChangeFeed()
        self._config: RuntimeConfig | None = None  # Redis holds it; this coordinator writes it
        # Compactions of a collection, and drops of it or its partitions, run one at a time.
        self._layout_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.auto_compact_s = auto_compact_s  # 0: compaction only when asked
        self._compaction_due = asyncio.Event()

    # -- collections --------------------------------------------------------------------------

    async def create_collection(self, spec: Collection) -> Collection:
        validate_collection(spec)
        collection_id = await self.ids.allocate(2)  # the collection and its default partition
        created = now_ms()
        collection = spec.with_changes(
            id=collection_id,
            created_ms=created,
            id_mode=IdMode.UNSET,
            version=1,
            partitions=(Partition(collection_id + 1, DEFAULT_PARTITION, created),),
        )
        channels = await self.placement.new_channels(collection_id, collection.shards_num)
        await self.catalog.create_collection(collection, channels)
        self._changed(collection)
        log.info("created collection %s (%d) with %d channels", collection.name, collection.id, len(channels))
        return collection

    async def collection(self, *, name: str = "", collection_id: int = 0) -> Collection:
        if name:
            found = await self.catalog.collection_id(name)
            collection_id = found or 0
        collection = await self.catalog.get_collection(collection_id) if collection_id else None
        if collection is None:
            raise QuiverError(
                ErrorCode.COLLECTION_NOT_FOUND, f"collection {name or collection_id!r} not found"
            )
        return collection

    async def describe(
        self, *, name: str = "", collection_id: int = 0
    ) -> tuple[Collection, list[Segment]]:
        collection = await self.collection(name=name, collection_id=collection_id)
        return collection, await self.catalog.collection_segments(collection.id)

    async def list_collections(self) -> list[tuple[Collection, int]]:
        collections = await self.catalog.list_collections()
        counts = []
        for collection in collections:
            segments = await self.catalog.collection_segments(collection.id)
            counts.append(sum(s.live_rows for s in segments))
        return list(zip(collections, counts))

    async def drop_collection(self, name: str) -> None:
        collection = await self.collection(name=name)
        if collection.name != name:
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"{name!r} is an alias: drop the collection by its name")
        if collection.aliases:
            raise QuiverError(
                ErrorCode.INVALID_PARAMETER,
                f"collection {name!r} still has aliases {list(collection.aliases)}: drop them first",
            )
        async with self._layout_locks[collection.id]:
            channels = await self.catalog.channels([collection.id])
            segments = await self.catalog.drop_collection(collection)
        self._changed(collection)
        log.info("dropped collection %s (%d)", collection.name, collection.id)
        await self._drop_on_nodes(segments, f"collection {collection.name!r}")
        for channel in channels:  # its consumers stop at their next heartbeat
            try:
                await self.log.delete_subject(self.log.channel_subject(collection.id, channel.shard))
            except QuiverError as error:
                log.warning("the log keeps the messages of dropped collection %s: %s", collection.name, error.message)

    async def create_partition(self, name: str, partition_name: str) -> None:
        # By id: reading a collection with thousands of partitions costs more than adding one.
        collection_id = await self.catalog.collection_id(name)
        if collection_id is None:
            raise QuiverError(ErrorCode.COLLECTION_NOT_FOUND, f"collection {name!r} not found")
        if not partition_name or len(partition_name) > MAX_PARTITION_NAME:
            raise QuiverError(
                ErrorCode.PARTITION_NAME_INVALID,
                f"partition name {partition_name!r} must have 1 to {MAX_PARTITION_NAME} characters",
            )
        if partition_name == DEFAULT_PARTITION:
            raise QuiverError(ErrorCode.PARTITION_EXISTS, f"{DEFAULT_PARTITION} always exists")
        partition = Partition(await self.ids.allocate(1), partition_name, now_ms())
        await self.catalog.add_partition(collection_id, name, partition, MAX_PARTITIONS)
        self.changes.publish(CatalogChange(ChangeKind.COLLECTION, collection_id, name))

    async def drop_partition(self, name: str, partition_name: str) -> None:
        """Drops the partition and its data on every data node."""
        collection = await self.collection(name=name)
        if partition_name == DEFAULT_PARTITION:
            raise QuiverError(ErrorCode.DEFAULT_PARTITION, f"{DEFAULT_PARTITION} cannot be dropped")
        partition = collection.partition(partition_name)
        async with self._layout_locks[collection.id]:
            segments = [
                s for s in await self.catalog.collection_segments(collection.id)
                if s.partition_id == partition.id
            ]
            await self.catalog.remove_partition(collection.id, partition, segments)
        self._changed(collection)
        await self._drop_on_nodes(segments, f"partition {partition_name!r} of {collection.name!r}")

    async def _drop_on_nodes(self, segments: list[Segment], what: str) -> None:
        """Deletes segments on their live nodes; nodes that are down learn it when they report."""
        nodes = {n.node_id: n for n in await self.catalog.nodes()}
        for node_id, owned in _by_node(segments).items():
            node = nodes.get(node_id)
            if node is None or not node.alive:
                continue
            try:
                await self.datanodes.drop_segments(node, [s.id for s in owned])
            except QuiverError as error:
                log.warning("segments of %s stay on %s until it reports: %s", what, node_id, error.message)

    async def rename_collection(self, name: str, new_name: str) -> None:
        collection = await self.collection(name=name)
        validate_collection_name(new_name)
        await self.catalog.rename_collection(collection, new_name)
        self._changed(collection)

    async def set_released(self, name: str, released: bool) -> Collection:
        collection = await self.collection(name=name)
        await self.catalog.set_released(collection.id, released)
        self._changed(collection)
        return await self.collection(collection_id=collection.id)

    async def create_alias(self, alias: str, name: str, *, create: bool = True) -> None:
        validate_collection_name(alias)
        collection = await self.collection(name=name)
        previous = await self.catalog.aliases()
        await self.catalog.put_alias(alias, collection.id, create=create)
        self._changed(collection)
        if alias in previous and previous[alias] != collection.id:  # re-pointed: its old target too
            self.changes.publish(CatalogChange(ChangeKind.COLLECTION, previous[alias], alias))

    async def drop_alias(self, alias: str) -> None:
        target = (await self.catalog.aliases()).get(alias)
        await self.catalog.drop_alias(alias)
        self.changes.publish(CatalogChange(ChangeKind.COLLECTION, target or 0, alias))

    async def list_aliases(self, name: str) -> list[tuple[str, str]]:
        """(alias, collection name) pairs, of one collection or of all."""
        ids = {c.id: c.name for c in await self.catalog.list_collections()}
        wanted = (await self.collection(name=name)).id if name else None
        return sorted(
            (alias, ids[i]) for alias, i in (await self.catalog.aliases()).items()
            if i in ids and (wanted is None or i == wanted)
        )

    async def claim_id_mode(self, collection_id: int, mode: IdMode) -> None:
        current = await self.catalog.claim_id_mode(collection_id, mode)
        if current != mode:
            expected = "with ids" if current is IdMode.USER else "without ids"
            raise QuiverError(
                ErrorCode.ID_MODE_MISMATCH,
                f"this collection's vectors are inserted {expected}: ids must be given "
                "for all inserts or for none",
            )

    # -- write path ---------------------------------------------------------------------------

    async def allocate_ids(self, count: int) -> int:
        if not 1 <= count <= MAX_IDS_PER_REQUEST:
            raise QuiverError(
                ErrorCode.INVALID_PARAMETER, f"id count {count} out of range [1, {MAX_IDS_PER_REQUEST}]"
            )
        return await self.ids.allocate(count)

    async def allocate_segment(self, collection_id: int, partition_id: int, shard: int, node_id: str) -> tuple[Segment, Collection]:
        """A new growing segment for a partition's rows on a channel, recorded on the node that
        consumes the channel; refused to a node that no longer does (the channel moved)."""
        collection = await self.collection(collection_id=collection_id)
        if not any(p.id == partition_id for p in collection.partitions):
            raise QuiverError(ErrorCode.PARTITION_NOT_FOUND, f"partition {partition_id} not found")
        channel = next((c for c in await self.catalog.channels([collection_id]) if c.shard == shard), None)
        if channel is None or channel.node_id != node_id:
            raise QuiverError(
                ErrorCode.CHANNEL_MOVED,
                f"channel {collection_id}/{shard} is consumed by {channel.node_id if channel else 'no node'}, not {node_id}",
            )
        segment = Segment(
            id=await self.ids.allocate(1),
            collection_id=collection_id,
            partition_id=partition_id,
            node_id=node_id,
            shard=shard,
        )
        await self.catalog.add_segment(segment)
        self._changed(collection)
        return segment, collection

    async def get_segment(self, segment_id: int) -> tuple[Segment, Collection]:
        segment = await self.catalog.get_segment(segment_id)
        if segment is None:
            raise QuiverError(ErrorCode.SEGMENT_NOT_FOUND, f"segment {segment_id} not found")
        return segment, await self.collection(collection_id=segment.collection_id)

    async def segment_flushed(self, segment: Segment) -> None:
        await self._record_reports(segment.node_id, [segment])

    async def flush(self, names: list[str]) -> None:
        """Seals and persists the growing segments of these collections (all when empty)."""
        if names:
            collections = [await self.collection(name=n) for n in names]
        else:
            collections = [c for c, _ in await self.list_collections()]
        ids = [c.id for c in collections]
        nodes = {n.node_id: n for n in await self.catalog.nodes()}
        targets = []
        for node_id in sorted({c.node_id for c in await self.catalog.channels(ids)}):
            node = nodes.get(node_id)
            if node is None or not node.alive:
                raise QuiverError(
                    ErrorCode.UNAVAILABLE,
                    f"data node {node_id or '(none yet)'} consuming a channel is down: cannot flush its rows",
                )
            targets.append(node)
        log.info("flushing %s on %s", ", ".join(c.name for c in collections), ", ".join(n.node_id for n in targets))
        reports = await asyncio.gather(*(self.datanodes.flush(node, ids) for node in targets))
        for node, report in zip(targets, reports):
            await self._record_reports(node.node_id, report)

    async def compact(self, name: str) -> None:
        """Rewrites segments without their deleted rows and merges small ones, per data node
        and partition, keeping every row's id."""
        await self._compact(await self.collection(name=name), unasked=False)

    async def compact_periodically(self, stop: asyncio.Event) -> None:
        """Compacts, unasked, the groups of segments worth it (see worth_compacting), as Milvus'
        automatic compaction does: under steady upserts the deleted rows would otherwise hold
        memory and disk, and slow searches, until an operator compacts. Runs every interval,
        and at once when a flushed segment is mostly deleted rows (see _queue_builds)."""
        interval_s = self.auto_compact_s
        while interval_s > 0 and not stop.is_set():
            await first_of(stop, self._compaction_due, timeout_s=interval_s)
            if stop.is_set():
                return
            self._compaction_due.clear()
            try:
                for collection in await self.catalog.list_collections():
                    if not stop.is_set():
                        await self._compact(collection, unasked=True)
            except Exception:  # a node or Redis away: the next round tries again
                log.exception("automatic compaction failed")
            await first_of(stop, timeout_s=min(interval_s, 1.0))  # rounds at most once a second

    async def _compact(self, collection: Collection, *, unasked: bool) -> None:
        async with self._layout_locks[collection.id]:
            segments = await self.catalog.collection_segments(collection.id)
            nodes = {n.node_id: n for n in await self.catalog.nodes()}
            for group in compaction_plan(segments, collection.seal_bytes):
                node = nodes.get(group[0].node_id)
                down = node is None or not node.alive
                if unasked:
                    if down or not worth_compacting(group):
                        continue
                    log.info("compacting %d segments of %r unasked", len(group), collection.name)
                elif down:
                    raise QuiverError(
                        ErrorCode.UNAVAILABLE, f"data node {group[0].node_id} is down: cannot compact its segments"
                    )
                assert node is not None
                await self._compact_group(collection, node, group)

    async def _compact_group(self, collection: Collection, node: Node, group: list[Segment]) -> None:
        placeholder = Segment(
            id=await self.ids.allocate(1),
            collection_id=collection.id,
            partition_id=group[0].partition_id,
            node_id=node.node_id,
            state=SegmentState.SEALED,
            shard=group[0].shard,
        )
        # Recorded first: were the reply lost, the node's next registration settles it.
        await self.catalog.add_segment(placeholder)
        compacted = await self.datanodes.compact(node, placeholder.id, [s.id for s in group])
        await self.catalog.replace_segments(group, compacted)
        self._changed(collection)
        if compacted.row_count == 0:  # every row was deleted
            await self.catalog.remove_segments([compacted])
            await self._drop_on_nodes([compacted], f"empty segment of {collection.name!r}")
        else:
            await self._queue_builds(collection, [compacted])

    # -- read path ----------------------------------------------------------------------------

    async def routing(
        self, *, name: str = "", collection_id: int = 0
    ) -> tuple[Collection, list[Segment], list[Channel], list[Node]]:
        collection, segments = await self.describe(name=name, collection_id=collection_id)
        channels = await self.catalog.channels([collection.id])
        consumers = {c.node_id for c in channels}
        nodes = [n for n in await self.catalog.nodes() if n.node_id in consumers]
        return collection, segments, channels, nodes

    # -- membership ---------------------------------------------------------------------------

    async def register_node(self, node: Node, segments: list[Segment], channels: list[Channel]) -> NodeUpkeep:
        await self.catalog.register_node(node, self.node_ttl_s)
        log.info("%s node %s registered at %s", node.role.name.lower(), node.node_id, node.address)
        if node.role is NodeRole.DATA:
            await self._forget_lost_growing(node.node_id, segments)
            await self.placement.reassign_orphans()  # channels that waited for a data node
        self.changes.publish(CatalogChange(ChangeKind.NODES))
        return await self._upkeep(node.node_id, node.role, segments, channels)

    async def _forget_lost_growing(self, node_id: str, reported: list[Segment]) -> None:
        """A data node that (re)starts has no growing segment yet: the ones the catalogue still
        places on it died with its last run, and their rows come back from the log into new ones."""
        present = {s.id for s in reported}
        channels = [c for c in await self.catalog.all_channels() if c.node_id == node_id]
        lost = [
            s for s in await self.catalog.segments_of(sorted({c.collection_id for c in channels}))
            if s.node_id == node_id and s.state is SegmentState.GROWING and s.id not in present
        ]
        if lost:
            await self.catalog.remove_segments(lost)

    async def heartbeat(
        self, node_id: str, role: NodeRole, segments: list[Segment], channels: list[Channel]
    ) -> NodeUpkeep | None:
        """What the node must do; None when it must register again."""
        if not await self.catalog.heartbeat(node_id, self.node_ttl_s):
            return None
        return await self._upkeep(node_id, role, segments, channels)

    async def _upkeep(
        self, node_id: str, role: NodeRole, segments: list[Segment], channels: list[Channel]
    ) -> NodeUpkeep:
        """Records a data node's report (segment statistics, channel checkpoints) and tells it
        what to consume, what to restore and what to drop."""
        upkeep = await self._record_reports(node_id, segments)
        if role is not NodeRole.DATA:
            return upkeep
        for channel in channels:
            await self.catalog.record_checkpoint(replace(channel, node_id=node_id))
        assigned = [c for c in await self.catalog.all_channels() if c.node_id == node_id]
        return replace(upkeep, channels=assigned, restore=await self._missing(node_id, assigned, segments))

    async def _missing(self, node_id: str, assigned: list[Channel], reported: list[Segment]) -> list[Segment]:
        """Flushed segments of the node's channels it does not report: it restores them from
        the object store (new to it, or its disk was lost). Sealed ones it does not have never
        reached the bucket (a compaction's output that was never written) and are forgotten;
        their rows are still in the log past the checkpoint."""
        present = {s.id for s in reported}
        missing = [
            s for s in await self.catalog.segments_of(sorted({c.collection_id for c in assigned}))
            if s.node_id == node_id and s.id not in present and s.state is not SegmentState.GROWING
        ]
        vanished = [s for s in missing if s.state is not SegmentState.FLUSHED]
        if vanished:
            log.warning("forgetting %d sealed segments %s never flushed", len(vanished), node_id)
            await self.catalog.remove_segments(vanished)
        return [s for s in missing if s.state is SegmentState.FLUSHED]

    # -- runtime settings ---------------------------------------------------------------------

    async def runtime_config(self) -> RuntimeConfig:
        if self._config is None:
            self._config = await self.catalog.runtime_config()
        return self._config

    async def set_runtime_config(self, config: RuntimeConfig) -> RuntimeConfig:
        data_nodes = [n for n in await self.catalog.nodes() if n.role is NodeRole.DATA and n.alive]
        config.validate(min((n.memory_bytes for n in data_nodes), default=0))
        self._config = await self.catalog.put_runtime_config(config)
        log.info("runtime settings now version %d: %s", self._config.version, self._config)
        return self._config

    async def _record_reports(self, node_id: str, segments: list[Segment]) -> NodeUpkeep:
        """Records what a data node reports about its segments, queues the builds its flushed
        segments still need, and says which segments and indexes the node should drop.

        Every report queues what is missing, not only what has just been flushed: a flush
        recorded just before Redis or this coordinator went down would otherwise never be
        built. Queueing is idempotent per index version, so a build is never queued twice."""
        unknown = await self.catalog.update_segments(node_id, segments)
        collections = {
            c.id: c
            for c in await self.catalog.get_collections(sorted({s.collection_id for s in segments}))
        }
        for collection in collections.values():
            wanted = collection.vector_index.version if collection.vector_index else 0
            unbuilt = [
                s for s in segments
                if s.collection_id == collection.id and s.state is SegmentState.FLUSHED and s.index_version != wanted
            ]
            if unbuilt:
                await self._queue_builds(collection, unbuilt)
        stale_indexes = {}
        for segment in segments:
            collection = collections.get(segment.collection_id)
            wanted = collection.vector_index.version if collection and collection.vector_index else 0
            if segment.index_version and segment.index_version != wanted:
                stale_indexes[segment.id] = wanted
        return NodeUpkeep(unknown, stale_indexes, await self.runtime_config())

    async def nodes(self) -> list[Node]:
        return await self.catalog.nodes()

    async def ready(self) -> tuple[bool, str]:
        try:
            await self.catalog.ping()
        except Exception as error:  # any Redis failure means not ready
            return False, f"redis: {error}"
        return True, ""

    async def collect_metrics(self) -> None:
        nodes = await self.catalog.nodes()
        for role in NodeRole:
            for alive in (True, False):
                count = sum(1 for n in nodes if n.role is role and n.alive is alive)
                metrics.NODES.labels(role=role.name.lower(), alive=str(alive).lower()).set(count)
        metrics.COLLECTIONS.set(len(await self.catalog.list_collections()))
        metrics.INDEX_QUEUE.set(await self.catalog.index_tasks_queued())

    async def watch_liveness(self, stop: asyncio.Event) -> None:
        """Publishes a change whenever a node goes down or comes back, and hands the channels of
        a data node that went down to live ones."""
        alive: set[str] | None = None
        while not stop.is_set():
            try:
                now_alive = {n.node_id for n in await self.catalog.nodes() if n.alive}
                if alive is not None and now_alive != alive:
                    for node_id in sorted(alive - now_alive):
                        log.warning("node %s stopped heartbeating: marked down", node_id)
                    self.changes.publish(CatalogChange(ChangeKind.NODES))
                alive = now_alive
                if await self.placement.reassign_orphans():
                    self.changes.publish(CatalogChange(ChangeKind.NODES))
            except Exception:  # Redis hiccup: try again next tick
                log.exception("liveness check failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.node_ttl_s / 4)
            except TimeoutError:
                pass

    async def truncate_log_periodically(self, stop: asyncio.Event, interval_s: float) -> None:
        """Drops from the log what every channel's checkpoint has passed: it is in the bucket."""
        truncated: dict[tuple[int, int], int] = {}
        while not stop.is_set():
            await first_of(stop, timeout_s=interval_s)
            try:
                for channel in await self.catalog.all_channels():
                    key = (channel.collection_id, channel.shard)
                    if channel.checkpoint > truncated.get(key, 0):
                        subject = self.log.channel_subject(channel.collection_id, channel.shard)
                        await self.log.purge_before(subject, channel.checkpoint + 1)
                        truncated[key] = channel.checkpoint
            except (QuiverError, *METADATA_STORE_DOWN) as error:
                log.warning("truncating the log postponed: %s", error)

    # -- indexes ------------------------------------------------------------------------------

    async def create_index(self, name: str, spec: IndexSpec, replace_existing: bool) -> Collection:
        collection = await self.collection(name=name)
        field = collection.schema.field_named(spec.field_name or collection.vector_field.name)
        kind = spec.catalogue_type
        if field.is_vector:
            if kind.vector_kind is not collection.layout.kind:
                raise QuiverError(
                    ErrorCode.INVALID_INDEX_TYPE,
                    f"index type {kind.name} does not index {collection.layout.kind.value} vectors",
                )
            check_metric(kind, spec.metric_type)
        elif kind.family is not IndexFamily.SCALAR:
            raise QuiverError(ErrorCode.INVALID_INDEX_TYPE, f"{kind.name} cannot index scalar field {field.name!r}")
        existing = collection.index_for(field.name)
        if existing is not None:
            same = (existing.index_type, existing.metric_type, existing.params) == (
                spec.index_type, spec.metric_type, spec.params
            )
            if same:
                return collection
            if not replace_existing:
                raise QuiverError(
                    ErrorCode.INDEX_EXISTS,
                    f"field {field.name!r} already has a different index {existing.index_name!r}; "
                    "drop it first",
                )
        created = replace(
            spec,
            field_name=field.name,
            index_name=spec.index_name or field.name,
            version=await self.ids.allocate(1),
            created_ms=now_ms(),
        )
        await self.catalog.put_index(collection.id, created)
        if existing is not None and field.is_vector:  # replaced: the old version's files go
            segments = await self.catalog.collection_segments(collection.id)
            await self.catalog.collect_later(
                [bucket.index_file(collection.id, s.id, existing.version) for s in segments]
            )
        collection = await self.collection(collection_id=collection.id)
        self._changed(collection)
        log.info("index %s (%s) on %s.%s", created.index_name, created.index_type,
                 collection.name, field.name)
        if field.is_vector:
            await self._queue_builds(collection, await self.catalog.collection_segments(collection.id))
        return collection

    async def _queue_builds(self, collection: Collection, segments: list[Segment]) -> None:
        spec = collection.vector_index
        if spec is None or not spec.catalogue_type.builds_for(spec.metric_type):
            return
        ready = [
            s.id for s in segments
            if s.state is SegmentState.FLUSHED and s.row_count >= self.min_build_rows
        ]
        if self.auto_compact_s > 0:  # mostly deleted rows: compacted at once, the result built
            doomed = {s.id for s in segments if s.deleted_count >= COMPACT_BEFORE_BUILD_SHARE * s.row_count}
            if doomed.intersection(ready):
                ready = [i for i in ready if i not in doomed]
                self._compaction_due.set()
        queued = await self.catalog.queue_builds(ready, spec.version)
        if queued:
            log.info("queued %d %s builds for %s", len(queued), spec.index_type, collection.name)

    async def drop_index(self, name: str, field_name: str) -> None:
        collection = await self.collection(name=name)
        spec = collection.index_for(field_name or collection.vector_field.name)
        if spec is None:
            raise QuiverError(
                ErrorCode.INDEX_NOT_FOUND, f"collection {name!r} has no index on {field_name!r}"
            )
        if spec.field_name != collection.vector_field.name:  # a scalar index: no builds to undo
            await self.catalog.drop_index(collection.id, spec, [])
            self._changed(collection)
            return
        segments = await self.catalog.collection_segments(collection.id)
        await self.catalog.drop_index(collection.id, spec, [s.id for s in segments])
        self._changed(collection)
        # Live nodes drop the index files now; the others when they report them stale.
        nodes = {n.node_id: n for n in await self.catalog.nodes()}
        for node_id, owned in _by_node(segments).items():
            node = nodes.get(node_id)
            if node is not None and node.alive:
                try:
                    await self.datanodes.drop_indexes(node, [s.id for s in owned])
                except QuiverError as error:
                    log.warning("index files stay on %s until it reports: %s", node_id, error.message)

    def build_progress(self, collection: Collection, segments: list[Segment]) -> IndexProgress | None:
        spec = collection.vector_index
        return None if spec is None else index_progress(spec, segments, self.min_build_rows)

    async def start_build(self, segment_id: int, version: int) -> BuildJob | None:
        """The job for an index node, or None when the index was dropped or replaced."""
        segment = await self.catalog.get_segment(segment_id)
        collection = await self.catalog.get_collection(segment.collection_id) if segment else None
        spec = collection.vector_index if collection else None
        if segment is None or collection is None or spec is None or spec.version != version:
            return None
        if segment.index_version == version and segment.index_state is IndexState.FINISHED:
            return None  # a duplicate task: built already
        owner = next((n for n in await self.catalog.nodes() if n.node_id == segment.node_id), None)
        if owner is None or not owner.alive:
            raise QuiverError(
                ErrorCode.UNAVAILABLE, f"data node {segment.node_id} holding segment {segment_id} is down"
            )
        if not await self.catalog.set_build_state(segment_id, version, IndexState.BUILDING):
            return None
        return BuildJob(segment, collection, spec, owner)

    async def finish_build(self, segment_id: int, version: int, failed: bool, reason: str) -> None:
        state = IndexState.FAILED if failed else IndexState.FINISHED
        if await self.catalog.set_build_state(segment_id, version, state, reason):
            level = logging.WARNING if failed else logging.INFO
            log.log(level, "segment %d index build %s%s", segment_id, state.name.lower(),
                    f": {reason}" if reason else "")

    def _changed(self, collection: Collection) -> None:
        self.changes.publish(CatalogChange(ChangeKind.COLLECTION, collection.id, collection.name))


@dataclass(frozen=True)
class NodeUpkeep:
    """What a node is told after it reports: what to consume, restore and drop."""

    drop_segment_ids: list[int]
    index_versions: dict[int, int]  # segment id -> the index version it should serve (0: none)
    config: RuntimeConfig
    channels: list[Channel] = field(default_factory=list)  # what it consumes (data nodes)
    restore: list[Segment] = field(default_factory=list)  # flushed segments it serves and lacks


@dataclass(frozen=True)
class BuildJob:
    segment: Segment
    collection: Collection
    spec: IndexSpec
    owner: Node


def _by_node(segments: Iterable[Segment]) -> dict[str, list[Segment]]:
    owned: defaultdict[str, list[Segment]] = defaultdict(list)
    for segment in segments:
        owned[segment.node_id].append(segment)
    return owned
