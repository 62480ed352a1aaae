"""The coordinator's logic over the catalogue: collections, partitions and aliases, id blocks,
segments and channels of the write path, routing of reads; it composes what owns the rest
(membership.py: nodes; indexing.py: indexes and builds; compaction.py; placement.py: channels).

Works on the dataclasses of quiver.schema; server.py converts them to and from protobuf.
Everything that must survive a restart is in Redis (catalog.py); what is kept in memory here
(the current id block, locks, watchers) is rebuilt or safely lost on restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from coordinator.catalog import Catalog
from coordinator.changes import CatalogChange, ChangeFeed, ChangeKind
from coordinator.compaction import Compactor
from coordinator.datanodes import DataNodes
from coordinator.ids import IdBlocks
from coordinator.indexing import Indexes
from coordinator.membership import Membership
from coordinator.placement import Placement
from coordinator.rebalance import Rebalancer
from quiver import metrics
from quiver.errors import METADATA_STORE_DOWN, ErrorCode, QuiverError
from quiver.ids import now_ms
from quiver.log import Log
from quiver.runtime import first_of
from quiver.schema import (
    DEFAULT_PARTITION,
    Channel,
    Collection,
    IdMode,
    Node,
    NodeRole,
    Partition,
    RuntimeConfig,
    Segment,
    validate_collection,
    validate_collection_name,
)

log = logging.getLogger(__name__)

MAX_IDS_PER_REQUEST = 10_000_000
MAX_PARTITIONS = 4096
MAX_PARTITION_NAME = 255


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
        self.ids = IdBlocks(catalog, id_block)
        self.changes = ChangeFeed()
        self._config: RuntimeConfig | None = None  # Redis holds it; this coordinator writes it
        # Compactions of a collection, and drops of it or its partitions, run one at a time.
        self._layout_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        compaction_due = asyncio.Event()
        self.indexes = Indexes(
            catalog, self.ids, datanodes, self.changes, min_build_rows, compaction_due if auto_compact_s > 0 else None
        )
        self.compactor = Compactor(
            catalog, self.ids, datanodes, self.indexes, self.changes, self._layout_locks, auto_compact_s, compaction_due
        )
        self.placement = Placement(catalog)
        self.membership = Membership(
            catalog, self.placement, Rebalancer(catalog, datanodes, self.changes), self.indexes, self.changes,
            node_ttl_s, self.runtime_config,
        )

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
        await self.datanodes.drop_on_live_nodes(await self.catalog.nodes(), segments, f"collection {collection.name!r}")
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
        await self.datanodes.drop_on_live_nodes(
            await self.catalog.nodes(), segments, f"partition {partition_name!r} of {collection.name!r}"
        )

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
        await self.membership.record_reports(segment.node_id, [segment])

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
            await self.membership.record_reports(node.node_id, report)

    # -- read path ----------------------------------------------------------------------------

    async def routing(
        self, *, name: str = "", collection_id: int = 0
    ) -> tuple[Collection, list[Segment], list[Channel], list[Node]]:
        collection, segments = await self.describe(name=name, collection_id=collection_id)
        channels = await self.catalog.channels([collection.id])
        consumers = {c.node_id for c in channels}
        nodes = [n for n in await self.catalog.nodes() if n.node_id in consumers]
        return collection, segments, channels, nodes

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
        consumers = {n.node_id for n in nodes if n.role is NodeRole.DATA and n.alive}
        metrics.CHANNELS_UNSERVED.set(sum(c.node_id not in consumers for c in await self.catalog.all_channels()))

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

    def _changed(self, collection: Collection) -> None:
        self.changes.collection_changed(collection)
