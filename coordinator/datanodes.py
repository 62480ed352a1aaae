"""The coordinator's client for the data nodes it drives (flush, drop)."""

from __future__ import annotations

from quiver.rpc import Channels, call
from quiver.schema import Node, Segment
from quiver_pb import datanode_pb2 as dpb
from quiver_pb.datanode_pb2_grpc import DataNodeStub


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


def _peer(node: Node) -> str:
    return f"data node {node.node_id} at {node.address}"
