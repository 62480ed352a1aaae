"""Compaction: which segments it rewrites (per data node and partition, segments with deleted
rows, and small ones merged up to the seal size), which of those groups are worth it unasked,
and the rounds that have data nodes rewrite them."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from coordinator.catalog import Catalog
from coordinator.changes import ChangeFeed
from coordinator.datanodes import DataNodes
from coordinator.ids import IdBlocks
from coordinator.indexing import Indexes
from quiver.errors import ErrorCode, QuiverError
from quiver.runtime import first_of
from quiver.schema import Collection, Node, Segment, SegmentState

log = logging.getLogger(__name__)

# Automatic compaction (worth_compacting): the share of deleted rows, or the number of small
# segments merged, that makes a group worth rewriting unasked.
AUTO_COMPACT_DELETED_SHARE = 0.2
AUTO_COMPACT_SEGMENTS = 4


def compaction_plan(segments: list[Segment], seal_bytes: int) -> list[list[Segment]]:
    """Groups of flushed segments of one node and partition to rewrite as one segment each:
    segments with deleted rows, and small ones (under half the seal size) merged up to it."""
    groups: list[list[Segment]] = []
    by_place: defaultdict[tuple[str, int], list[Segment]] = defaultdict(list)
    for segment in segments:
        if segment.state is SegmentState.FLUSHED:
            by_place[(segment.node_id, segment.partition_id)].append(segment)
    for place in sorted(by_place):
        candidates = [
            s for s in sorted(by_place[place], key=lambda s: s.id)
            if s.deleted_count or s.data_bytes < seal_bytes // 2
        ]
        current: list[Segment] = []
        size = 0
        for segment in candidates:
            live_bytes = segment.data_bytes * segment.live_rows // max(segment.row_count, 1)
            if current and size + live_bytes > seal_bytes:
                groups.append(current)
                current, size = [], 0
            current.append(segment)
            size += live_bytes
        if current:
            groups.append(current)
    return [g for g in groups if len(g) > 1 or g[0].deleted_count]


def worth_compacting(group: list[Segment]) -> bool:
    """A group is compacted unasked when a fifth of one segment's rows are deleted (Milvus'
    threshold) or when it merges many small segments, each searched on its own until then."""
    return len(group) >= AUTO_COMPACT_SEGMENTS or any(
        s.deleted_count and s.deleted_count >= AUTO_COMPACT_DELETED_SHARE * s.row_count for s in group
    )


class Compactor:
    def __init__(
        self,
        catalog: Catalog,
        ids: IdBlocks,
        datanodes: DataNodes,
        indexes: Indexes,
        changes: ChangeFeed,
        layout_locks: defaultdict[int, asyncio.Lock],
        interval_s: float,
        due: asyncio.Event,
    ) -> None:
        self.catalog = catalog
        self.ids = ids
        self.datanodes = datanodes
        self.indexes = indexes
        self.changes = changes
        # Compactions of a collection, and drops of it or its partitions, run one at a time.
        self._layout_locks = layout_locks
        self.interval_s = interval_s  # 0: compaction only when asked
        self._due = due  # set when a flushed segment is mostly deleted rows (Indexes.queue_builds)

    async def compact(self, collection: Collection) -> None:
        """Rewrites segments without their deleted rows and merges small ones, per data node
        and partition, keeping every row's id."""
        await self._compact(collection, unasked=False)

    async def compact_periodically(self, stop: asyncio.Event) -> None:
        """Compacts, unasked, the groups of segments worth it (see worth_compacting), as Milvus'
        automatic compaction does: under steady upserts the deleted rows would otherwise hold
        memory and disk, and slow searches, until an operator compacts. Runs every interval,
        and at once when a flushed segment is mostly deleted rows."""
        while self.interval_s > 0 and not stop.is_set():
            await first_of(stop, self._due, timeout_s=self.interval_s)
            if stop.is_set():
                return
            self._due.clear()
            try:
                for collection in await self.catalog.list_collections():
                    if not stop.is_set():
                        await self._compact(collection, unasked=True)
            except Exception:  # a node or Redis away: the next round tries again
                log.exception("automatic compaction failed")
            await first_of(stop, timeout_s=min(self.interval_s, 1.0))  # rounds at most once a second

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
                await self._compact_group(collection, node, group, list(nodes.values()))

    async def _compact_group(self, collection: Collection, node: Node, group: list[Segment], nodes: list[Node]) -> None:
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
        self.changes.collection_changed(collection)
        if compacted.row_count == 0:  # every row was deleted
            await self.catalog.remove_segments([compacted])
            await self.datanodes.drop_on_live_nodes(nodes, [compacted], f"an empty segment of {collection.name!r}")
        else:
            await self.indexes.queue_builds(collection, [compacted])
