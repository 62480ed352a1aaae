"""The coordinator's client for the data nodes it drives (flush, compact, drop)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

from quiver.errors import QuiverError
from quiver.rpc import Channels, call
from quiver.schema import Node, Segment
from quiver_pb import datanode_pb2 as dpb
from quiver_pb.datanode_pb2_grpc import DataNodeStub

log = logging.getLogger(__name__)


class DataNodes:
    def __init__(self, channels: Channels) -> None:
        self._channels = channels

    def _stub(self, node: Node) -> DataNodeStub:
        return DataNodeStub(self._channels.get(node.address))

    async def flush(self, node: Node, collection_ids: list[int]) -> list[Segment]:
        reply = await call(
            self._stub(node).Flush,
            dpb.NodeFlushRequest(collection_ids=collection_ids),
            peer=_peer(node),
            idempotent=True,
        )
        return [Segment.from_proto(s) for s in reply.segments]

    async def compact(self, node: Node, segment_id: int, source_ids: list[int]) -> Segment:
        reply = await call(
            self._stub(node).Compact,
            dpb.CompactRequest(segment_id=segment_id, source_segment_ids=source_ids),
            peer=_peer(node),
            timeout=3600,
        )
        return Segment.from_proto(reply.segment)

    async def drop_indexes(self, node: Node, segment_ids: list[int]) -> None:
        await call(
            self._stub(node).DropIndexes,
            dpb.DropSegmentsRequest(segment_ids=segment_ids),
            peer=_peer(node),
            idempotent=True,
        )

    async def drop_segments(self, node: Node, segment_ids: list[int]) -> None:
        await call(
            self._stub(node).DropSegments,
            dpb.DropSegmentsRequest(segment_ids=segment_ids),
            peer=_peer(node),
            idempotent=True,
        )


    async def drop_on_live_nodes(self, nodes: list[Node], segments: list[Segment], what: str) -> None:
        """Deletes segments on their live nodes; nodes that are down learn it when they report."""
        await self._on_live_nodes(nodes, segments, self.drop_segments, f"segments of {what}")

    async def drop_indexes_on_live_nodes(self, nodes: list[Node], segments: list[Segment], what: str) -> None:
        """Deletes the segments' index files on their live nodes; the others drop them when
        they report them stale."""
        await self._on_live_nodes(nodes, segments, self.drop_indexes, f"index files of {what}")

    async def _on_live_nodes(
        self, nodes: list[Node], segments: list[Segment], drop: Callable[[Node, list[int]], Awaitable[None]], what: str
    ) -> None:
        by_id = {n.node_id: n for n in nodes}
        for node_id, owned in _by_node(segments).items():
            node = by_id.get(node_id)
            if node is None or not node.alive:
                continue
            try:
                await drop(node, [s.id for s in owned])
            except QuiverError as error:
                log.warning("%s stay on %s until it reports: %s", what, node_id, error.message)


def _by_node(segments: Iterable[Segment]) -> dict[str, list[Segment]]:
    owned: defaultdict[str, list[Segment]] = defaultdict(list)
    for segment in segments:
        owned[segment.node_id].append(segment)
    return owned


def _peer(node: Node) -> str:
    return f"data node {node.node_id} at {node.address}"
