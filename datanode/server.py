"""The data node's gRPC servicer (protobuf in, protobuf out) and its link to the coordinator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import numpy as np
import orjson

from datanode.service import CoordinatorLink, DataNodeService, SegmentSpec
from quiver.catalogue import VectorKind, metric
from quiver.errors import ErrorCode, QuiverError
from quiver.packing import pack_distances, pack_ids, pack_table, unpack_ids
from quiver.rpc import call, ok, servicer_method, status_of
from quiver.schema import Collection, IndexSpec, Segment
from quiver_pb import common_pb2 as pb
from quiver_pb import datanode_pb2 as dpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub
from quiver_pb.datanode_pb2_grpc import DataNodeServicer

MAX_TOPK = 16384
CHUNK_BYTES = 4 * 1024 * 1024  # per streamed message of a segment's vectors


class GrpcCoordinatorLink(CoordinatorLink):
    def __init__(self, stub: CoordinatorStub) -> None:
        self._stub = stub

    async def segment_spec(self, segment_id: int) -> SegmentSpec:
        reply = await call(
            self._stub.GetSegment, pb.SegmentRef(segment_id=segment_id), peer="coordinator"
        )
        return SegmentSpec(Segment.from_proto(reply.segment), Collection.from_proto(reply.collection))

    async def segment_sealed(self, segment: Segment) -> None:
        await call(self._stub.SegmentSealed, segment.to_proto(), peer="coordinator", timeout=5)


class DataNodeServer(DataNodeServicer):
    def __init__(self, service: DataNodeService) -> None:
        self.service = service

    @servicer_method(pb.StatusReply)
    async def Insert(self, request: dpb.InsertRequest) -> pb.StatusReply:
        await self.service.insert(
            request.segment_id, request.row_count, request.ids, request.vectors, request.scalars, request.token
        )
        return pb.StatusReply(status=ok())

    @servicer_method(dpb.DeleteReply)
    async def Delete(self, request: dpb.DeleteRequest) -> dpb.DeleteReply:
        deleted = await self.service.delete(
            request.collection_id,
            list(request.partition_ids),
            unpack_ids(request.ids),
            request.filter,
            frozenset(request.indexed_fields),
        )
        return dpb.DeleteReply(status=ok(), deleted_count=deleted)

    @servicer_method(dpb.SearchReply)
    async def Search(self, request: dpb.SearchRequest) -> dpb.SearchReply:
        m = metric(request.metric_type)
        if not 1 <= request.topk <= MAX_TOPK:
            raise QuiverError(ErrorCode.INVALID_TOPK, f"topk {request.topk} out of range")
        queries = _queries(request, m.vector_kind)
        params = orjson.loads(request.params_json or "{}")
        if not isinstance(params, dict):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "search params must be a JSON object")
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
        )
        return dpb.SearchReply(
            status=ok(),
            nq=request.nq,
            topk=request.topk,
            ids=pack_ids(hits.ids),
            distances=pack_distances(hits.distances),
            fields=pack_table(hits.fields),
        )

    @servicer_method(dpb.QueryReply)
    async def Query(self, request: dpb.QueryRequest) -> dpb.QueryReply:
        count, ids, fields = await self.service.query(
            request.collection_id,
            list(request.partition_ids),
            request.filter,
            list(request.output_fields),
            request.limit,
            frozenset(request.indexed_fields),
        )
        return dpb.QueryReply(status=ok(), count=count, ids=pack_ids(ids), fields=pack_table(fields))

    @servicer_method(dpb.GetVectorsReply)
    async def GetVectors(self, request: dpb.GetVectorsRequest) -> dpb.GetVectorsReply:
        ids, vectors = await self.service.get_vectors(request.collection_id, unpack_ids(request.ids))
        return dpb.GetVectorsReply(status=ok(), ids=pack_ids(ids), vectors=vectors.tobytes())

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

    async def ReadSegment(
        self, request: pb.SegmentRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[dpb.SegmentChunk]:
        try:
            vectors = await self.service.rows_for_build(request.segment_id)
        except QuiverError as error:
            yield dpb.SegmentChunk(status=status_of(error))
            return
        rows_per_chunk = max(1, CHUNK_BYTES // max(1, vectors.strides[0]))
        for start in range(0, len(vectors), rows_per_chunk):
            part = vectors[start : start + rows_per_chunk]
            yield dpb.SegmentChunk(status=ok(), row_count=len(part), vectors=part.tobytes())

    @servicer_method(pb.StatusReply)
    async def LoadIndex(self, request: AsyncIterator[dpb.IndexChunk]) -> pb.StatusReply:
        first = await anext(aiter(request))

        async def data() -> AsyncIterator[bytes]:
            yield first.data
            async for chunk in request:
                yield chunk.data

        await self.service.load_index(first.segment_id, IndexSpec.from_proto(first.spec), data())
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
