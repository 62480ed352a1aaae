"""The nodes of the cluster: registrations and heartbeats, what each data node is told to
consume, restore and drop, and the watch that notices nodes going down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from coordinator.catalog import Catalog
from coordinator.changes import ChangeFeed
from coordinator.indexing import Indexes
from coordinator.placement import Placement
from coordinator.rebalance import Rebalancer
from quiver.errors import ErrorCode, QuiverError
from quiver.schema import Channel, IndexState, Node, NodeRole, RuntimeConfig, Segment, SegmentState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeUpkeep:
    """What a node is told after it reports: what to consume, restore and drop."""

    drop_segment_ids: list[int]
    index_versions: dict[int, int]  # segment id -> the index version it should serve (0: none), where it differs
    config: RuntimeConfig
    channels: list[Channel] = field(default_factory=list)  # what it consumes (data nodes)
    restore: list[Segment] = field(default_factory=list)  # flushed segments it serves and lacks


class Membership:
    def __init__(
        self,
        catalog: Catalog,
        placement: Placement,
        rebalancer: Rebalancer,
        indexes: Indexes,
        changes: ChangeFeed,
        node_ttl_s: float,
        runtime_config: Callable[[], Awaitable[RuntimeConfig]],
    ) -> None:
        self.catalog = catalog
        self.placement = placement
        self.rebalancer = rebalancer
        self.indexes = indexes
        self.changes = changes
        self.node_ttl_s = node_ttl_s
        self._runtime_config = runtime_config

    async def register(self, node: Node, segments: list[Segment], channels: list[Channel]) -> NodeUpkeep:
        await self.catalog.register_node(node, self.node_ttl_s)
        log.info("%s node %s registered at %s", node.role.name.lower(), node.node_id, node.address)
        if node.role is NodeRole.DATA:
            await self.catalog.set_draining(node.node_id, False)  # a node that starts is not leaving
            await self._forget_lost_growing(node.node_id, segments)
            await self.placement.reassign_orphans()  # channels that waited for a data node
        self.changes.nodes_changed()
        return await self._upkeep(node.node_id, node.role, segments, channels)

    async def heartbeat(
        self, node_id: str, role: NodeRole, segments: list[Segment], channels: list[Channel]
    ) -> NodeUpkeep | None:
        """What the node must do; None when it must register again."""
        if not await self.catalog.heartbeat(node_id, self.node_ttl_s):
            return None
        return await self._upkeep(node_id, role, segments, channels)

    async def drain(self, node_id: str, undo: bool) -> int:
        """Marks a data node as being drained (its channels move away, none moves to it) or
        no longer; returns how many channels it still consumes."""
        if not any(n.node_id == node_id and n.role is NodeRole.DATA for n in await self.catalog.nodes()):
            raise QuiverError(ErrorCode.NODE_NOT_REGISTERED, f"no data node {node_id!r} is registered")
        await self.catalog.set_draining(node_id, not undo)
        if not undo:
            log.info("draining data node %s: its channels move to other nodes", node_id)
        return sum(c.node_id == node_id for c in await self.catalog.all_channels())

    async def record_reports(self, node_id: str, segments: list[Segment]) -> NodeUpkeep:
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
                await self.indexes.queue_builds(collection, unbuilt)
        index_versions = {}  # the segments whose index the node should change
        lacking = []
        for segment in segments:
            collection = collections.get(segment.collection_id)
            wanted = collection.vector_index.version if collection and collection.vector_index else 0
            if segment.index_version == wanted:
                continue
            if segment.index_version:  # dropped or replaced: the node drops it (0: serve none)
                index_versions[segment.id] = 0
            if wanted and segment.state is SegmentState.FLUSHED and segment.row_count >= self.indexes.min_build_rows:
                lacking.append(segment.id)
        # Once built, the wanted version: the node loads it from the bucket when it has not got
        # it (built while another node served the segment, or for a copy restored before).
        for recorded in await self.catalog.segments(lacking) if lacking else []:
            collection = collections[recorded.collection_id]
            assert collection.vector_index is not None
            if recorded.index_version == collection.vector_index.version and recorded.index_state is IndexState.FINISHED:
                index_versions[recorded.id] = recorded.index_version
        return NodeUpkeep(unknown, index_versions, await self._runtime_config())

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
                    self.changes.nodes_changed()
                alive = now_alive
                if await self.placement.reassign_orphans():
                    self.changes.nodes_changed()
                await self.rebalancer.step(self.record_reports)
            except Exception:  # Redis hiccup: try again next tick
                log.exception("liveness check failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.node_ttl_s / 4)
            except TimeoutError:
                pass

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

    async def _upkeep(
        self, node_id: str, role: NodeRole, segments: list[Segment], channels: list[Channel]
    ) -> NodeUpkeep:
        """Records a data node's report (segment statistics, channel checkpoints) and tells it
        what to consume, what to restore and what to drop."""
        if role is not NodeRole.DATA:
            return await self.record_reports(node_id, segments)
        recorded = {(c.collection_id, c.shard): c for c in await self.catalog.all_channels()}
        # Segments of channels it is to take over: kept, although the catalogue places them elsewhere.
        standby = await self.rebalancer.standby_segments(node_id, list(recorded.values()), segments)
        standby_ids = {s.id for s in standby}
        upkeep = await self.record_reports(node_id, [s for s in segments if s.id not in standby_ids])
        for channel in channels:
            known = recorded.get((channel.collection_id, channel.shard))
            # Most heartbeats report checkpoints that have not moved: a durable write each is waste.
            if known is None or known.node_id != node_id or known.checkpoint != channel.checkpoint:
                await self.catalog.record_checkpoint(replace(channel, node_id=node_id))
        assigned = [c for c in recorded.values() if c.node_id == node_id]
        present = {s.id for s in segments}
        restore = await self._missing(node_id, assigned, segments) + [s for s in standby if s.id not in present]
        return replace(upkeep, channels=assigned, restore=restore)

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
