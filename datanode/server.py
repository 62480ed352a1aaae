"""The data node's gRPC servicer (protobuf in, protobuf out) and its link to the coordinator."""

from __future__ import annotations

import numpy as np
import orjson

from datanode.channels import CoordinatorLink, ReadScope, SegmentSpec
from datanode.service import DataNodeService
from quiver.catalogue import VectorKind, metric
from quiver.errors import ErrorCode, QuiverError
from quiver.packing import pack_distances, pack_ids, pack_table, unpack_ids
from quiver.rpc import call, ok, servicer_method
from quiver.schema import Collection, Consistency, IndexSpec, Segment
from quiver_pb import common_pb2 as pb
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb import datanode_pb2 as dpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from quiver_pb.datanode_pb2_grpc import DataNodeServicer

MAX_TOPK = 16384


class GrpcCoordinatorLink(CoordinatorLink):
    def __init__(self, stub: CoordinatorStub, node_id: str) -> None:
        self._stub = stub
        self._node_id = node_id

    async def allocate_segment(self, collection_id: int, partition_id: int, shard: int) -> SegmentSpec:
        request = cpb.AllocateSegmentRequest(
            collection_id=collection_id, partition_id=partition_id, shard=shard, node_id=self._node_id
        )
        reply = await call(self._stub.AllocateSegment, request, peer="coordinator")
        return SegmentSpec(Segment.from_proto(reply.segment), Collection.from_proto(reply.collection))

    async def segment_spec(self, segment_id: int) -> SegmentSpec:
        reply = await call(
            self._stub.GetSegment, pb.SegmentRef(segment_id=segment_id), peer="coordinator"
        )
        return SegmentSpec(Segment.from_proto(reply.segment), Collection.from_proto(reply.collection))

    async def segment_flushed(self, segment: Segment) -> None:
        await call(self._stub.SegmentFlushed, segment.to_proto(), peer="coordinator", timeout=5)


class DataNodeServer(DataNodeServicer):
    def __init__(self, service: DataNodeService) -> None:
        self.service = service

    @servicer_method(dpb.SearchReply)
    async def Search(self, request: dpb.SearchRequest) -> dpb.SearchReply:
        m = metric(request.metric_type)
        if not 1 <= request.topk <= MAX_TOPK:
            raise QuiverError(ErrorCode.INVALID_TOPK, f"topk {request.topk} out of range")
        queries = _queries(request, m.vector_kind)
        params = orjson.loads(request.params_json or "{}")
        if not isinstance(params, dict):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "search params must be a JSON object")
        applied = self._applied(request.collection_id, request.scope)
        hits = await self.service.search(
            request.collection_id,
            list(request.partition_ids),
            list(request.segment_ids),
            queries,
            request.topk,
            m,
            params,
            request.filter,
            list(request.output_fields),
            frozenset(request.indexed_fields),
            _scope(request.scope),
        )
        return dpb.SearchReply(
            status=ok(),
            nq=request.nq,
            topk=request.topk,
            ids=pack_ids(hits.ids),
            distances=pack_distances(hits.distances),
            fields=pack_table(hits.fields),
            applied=applied,
        )

    @servicer_method(dpb.QueryReply)
    async def Query(self, request: dpb.QueryRequest) -> dpb.QueryReply:
        applied = self._applied(request.collection_id, request.scope)
        count, ids, fields = await self.service.query(
            request.collection_id,
            list(request.partition_ids),
            request.filter,
            list(request.output_fields),
            request.limit,
            frozenset(request.indexed_fields),
            _scope(request.scope),
        )
        return dpb.QueryReply(
            status=ok(), count=count, ids=pack_ids(ids), fields=pack_table(fields), applied=applied
        )

    @servicer_method(dpb.GetVectorsReply)
    async def GetVectors(self, request: dpb.GetVectorsRequest) -> dpb.GetVectorsReply:
        applied = self._applied(request.collection_id, request.scope)
        ids, vectors = await self.service.get_vectors(
            request.collection_id, unpack_ids(request.ids), _scope(request.scope)
        )
        return dpb.GetVectorsReply(status=ok(), ids=pack_ids(ids), vectors=vectors.tobytes(), applied=applied)

    def _applied(self, collection_id: int, scope: dpb.ReadScope) -> list[pb.ChannelInfo]:
        """Where the read's channels stand before it begins (read first: the read sees at least
        this much), for a caller that checks the read's freshness itself."""
        positions = self.service.channels.applied(collection_id, tuple(scope.shards))
        return [pb.ChannelInfo(collection_id=collection_id, shard=s, checkpoint=p) for s, p in positions.items()]

    @servicer_method(dpb.SegmentRowsReply)
    async def SegmentRows(self, request: dpb.SegmentRowsRequest) -> dpb.SegmentRowsReply:
        total, ids, vectors = await self.service.segment_rows(
            request.segment_id, request.offset, request.limit
        )
        reply = dpb.SegmentRowsReply(status=ok(), total=total, ids=pack_ids(ids))
        if request.with_vectors:
            reply.vectors = vectors.tobytes()
        return reply

    @servicer_method(pb.StatusReply)
    async def Load(self, request: dpb.NodeFlushRequest) -> pb.StatusReply:
        await self.service.load(list(request.collection_ids))
        return pb.StatusReply(status=ok())

    @servicer_method(dpb.NodeFlushReply)
    async def Flush(self, request: dpb.NodeFlushRequest) -> dpb.NodeFlushReply:
        segments = await self.service.flush(list(request.collection_ids))
        return dpb.NodeFlushReply(status=ok(), segments=[s.to_proto() for s in segments])

    @servicer_method(pb.StatusReply)
    async def DropSegments(self, request: dpb.DropSegmentsRequest) -> pb.StatusReply:
        await self.service.drop_segments(list(request.segment_ids))
        return pb.StatusReply(status=ok())

    @servicer_method(dpb.CompactReply)
    async def Compact(self, request: dpb.CompactRequest) -> dpb.CompactReply:
        segment = await self.service.compact(request.segment_id, list(request.source_segment_ids))
        return dpb.CompactReply(status=ok(), segment=segment.to_proto())

    @servicer_method(pb.StatusReply)
    async def LoadIndex(self, request: dpb.LoadIndexRequest) -> pb.StatusReply:
        await self.service.load_index(request.segment_id, IndexSpec.from_proto(request.spec))
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def DropIndexes(self, request: dpb.DropSegmentsRequest) -> pb.StatusReply:
        await self.service.drop_indexes(list(request.segment_ids))
        return pb.StatusReply(status=ok())


def _queries(request: dpb.SearchRequest, kind: VectorKind) -> np.ndarray:
    dtype = np.dtype("<f4") if kind is VectorKind.FLOAT else np.dtype("u1")
    queries = np.frombuffer(request.vectors, dtype=dtype)
    if request.nq < 1 or not queries.size or queries.size % request.nq:
        raise QuiverError(
            ErrorCode.INVALID_VECTORS,
            f"{len(request.vectors)} bytes do not hold {request.nq} query vectors",
        )
    return queries.reshape(request.nq, -1)


def _scope(scope: dpb.ReadScope) -> ReadScope:
    return ReadScope(
        tuple(scope.shards),
        Consistency(scope.consistency),
        {c.shard: c.checkpoint for c in scope.session},
    )
