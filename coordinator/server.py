"""The coordinator's gRPC servicer: protobuf in, protobuf out; the logic is in service.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from coordinator.changes import CatalogChange, ChangeKind
from coordinator.membership import NodeUpkeep
from coordinator.service import CoordinatorService
from coordinator.users import Users
from quiver.rpc import ok, servicer_method
from quiver.schema import Channel, Collection, IdMode, IndexSpec, Node, NodeRole, RuntimeConfig, Segment
from quiver_pb import common_pb2 as pb
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorServicer

_EVENT_KINDS = {
    ChangeKind.COLLECTION: cpb.CatalogEvent.COLLECTION_CHANGED,
    ChangeKind.NODES: cpb.CatalogEvent.NODES_CHANGED,
}


class CoordinatorServer(CoordinatorServicer):
    def __init__(self, service: CoordinatorService, users: Users) -> None:
        self.service = service
        self.users = users

    @servicer_method(cpb.CollectionReply)
    async def CreateCollection(self, request: cpb.CreateCollectionRequest) -> cpb.CollectionReply:
        collection = await self.service.create_collection(Collection.from_proto(request.collection))
        return cpb.CollectionReply(status=ok(), collection=collection.to_proto())

    @servicer_method(pb.StatusReply)
    async def DropCollection(self, request: cpb.CollectionRef) -> pb.StatusReply:
        await self.service.drop_collection(request.name)
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.CollectionReply)
    async def DescribeCollection(self, request: cpb.CollectionRef) -> cpb.CollectionReply:
        collection, segments = await self.service.describe(
            name=request.name, collection_id=request.id
        )
        stats = cpb.CollectionStats(
            row_count=sum(s.live_rows for s in segments),
            segments=[s.to_proto() for s in segments],
        )
        progress = self.service.indexes.progress(collection, segments)
        if progress is not None:
            stats.index_progress.CopyFrom(
                cpb.IndexProgress(
                    total_rows=progress.total_rows,
                    indexed_rows=progress.indexed_rows,
                    pending_rows=progress.pending_rows,
                    state=int(progress.state),
                    fail_reason=progress.fail_reason,
                )
            )
        return cpb.CollectionReply(status=ok(), collection=collection.to_proto(), stats=stats)

    @servicer_method(cpb.ListCollectionsReply)
    async def ListCollections(self, request: pb.Empty) -> cpb.ListCollectionsReply:
        listing = await self.service.list_collections()
        return cpb.ListCollectionsReply(
            status=ok(),
            collections=[c.to_proto() for c, _ in listing],
            row_counts=[rows for _, rows in listing],
        )

    @servicer_method(pb.StatusReply)
    async def RenameCollection(self, request: cpb.RenameRequest) -> pb.StatusReply:
        await self.service.rename_collection(request.collection_name, request.new_name)
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.CollectionReply)
    async def SetReleased(self, request: cpb.ReleaseRequest) -> cpb.CollectionReply:
        collection = await self.service.set_released(request.collection_name, request.released)
        return cpb.CollectionReply(status=ok(), collection=collection.to_proto())

    @servicer_method(pb.StatusReply)
    async def CreateAlias(self, request: cpb.AliasRequest) -> pb.StatusReply:
        await self.service.create_alias(request.alias, request.collection_name)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def AlterAlias(self, request: cpb.AliasRequest) -> pb.StatusReply:
        await self.service.create_alias(request.alias, request.collection_name, create=False)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def DropAlias(self, request: cpb.AliasRequest) -> pb.StatusReply:
        await self.service.drop_alias(request.alias)
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.AliasesReply)
    async def ListAliases(self, request: cpb.CollectionRef) -> cpb.AliasesReply:
        pairs = await self.service.list_aliases(request.name)
        return cpb.AliasesReply(
            status=ok(), aliases=[a for a, _ in pairs], collection_names=[c for _, c in pairs]
        )

    @servicer_method(pb.StatusReply)
    async def CreatePartition(self, request: cpb.PartitionRequest) -> pb.StatusReply:
        await self.service.create_partition(request.collection_name, request.partition_name)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def DropPartition(self, request: cpb.PartitionRequest) -> pb.StatusReply:
        await self.service.drop_partition(request.collection_name, request.partition_name)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def ClaimIdMode(self, request: cpb.ClaimIdModeRequest) -> pb.StatusReply:
        await self.service.claim_id_mode(request.collection_id, IdMode(request.id_mode))
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.AllocateIdsReply)
    async def AllocateIds(self, request: cpb.AllocateIdsRequest) -> cpb.AllocateIdsReply:
        start = await self.service.allocate_ids(request.count)
        return cpb.AllocateIdsReply(status=ok(), start=start, count=request.count)

    @servicer_method(cpb.SegmentReply)
    async def AllocateSegment(self, request: cpb.AllocateSegmentRequest) -> cpb.SegmentReply:
        segment, collection = await self.service.allocate_segment(
            request.collection_id, request.partition_id, request.shard, request.node_id
        )
        return cpb.SegmentReply(status=ok(), segment=segment.to_proto(), collection=collection.to_proto())

    @servicer_method(cpb.RoutingReply)
    async def GetRouting(self, request: cpb.CollectionRef) -> cpb.RoutingReply:
        collection, segments, channels, nodes = await self.service.routing(
            name=request.name, collection_id=request.id
        )
        return cpb.RoutingReply(
            status=ok(),
            collection=collection.to_proto(),
            segments=[s.to_proto() for s in segments],
            nodes=[n.to_proto() for n in nodes],
            channels=[c.to_proto() for c in channels],
        )

    @servicer_method(pb.StatusReply)
    async def Flush(self, request: cpb.FlushRequest) -> pb.StatusReply:
        await self.service.flush(list(request.collection_names))
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def Compact(self, request: cpb.CollectionRef) -> pb.StatusReply:
        await self.service.compactor.compact(await self.service.collection(name=request.name))
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.NodeReply)
    async def RegisterNode(self, request: cpb.RegisterNodeRequest) -> cpb.NodeReply:
        upkeep = await self.service.membership.register(
            Node.from_proto(request.node),
            [Segment.from_proto(s) for s in request.segments],
            [Channel.from_proto(c) for c in request.channels],
        )
        return _node_reply(upkeep)

    @servicer_method(cpb.NodeReply)
    async def Heartbeat(self, request: cpb.HeartbeatRequest) -> cpb.NodeReply:
        upkeep = await self.service.membership.heartbeat(
            request.node_id,
            NodeRole(request.role),
            [Segment.from_proto(s) for s in request.segments],
            [Channel.from_proto(c) for c in request.channels],
        )
        return _node_reply(upkeep)

    @servicer_method(cpb.DrainReply)
    async def DrainNode(self, request: cpb.DrainRequest) -> cpb.DrainReply:
        left = await self.service.membership.drain(request.node_id, request.undo)
        return cpb.DrainReply(status=ok(), channels_left=left)

    @servicer_method(cpb.ListNodesReply)
    async def ListNodes(self, request: pb.Empty) -> cpb.ListNodesReply:
        nodes = await self.service.nodes()
        return cpb.ListNodesReply(status=ok(), nodes=[n.to_proto() for n in nodes])

    @servicer_method(cpb.ConfigReply)
    async def GetConfig(self, request: pb.Empty) -> cpb.ConfigReply:
        config = await self.service.runtime_config()
        return cpb.ConfigReply(status=ok(), config=config.to_proto())

    @servicer_method(cpb.ConfigReply)
    async def SetConfig(self, request: pb.RuntimeConfig) -> cpb.ConfigReply:
        config = await self.service.set_runtime_config(RuntimeConfig.from_proto(request))
        return cpb.ConfigReply(status=ok(), config=config.to_proto())

    @servicer_method(cpb.SegmentReply)
    async def GetSegment(self, request: pb.SegmentRef) -> cpb.SegmentReply:
        segment, collection = await self.service.get_segment(request.segment_id)
        return cpb.SegmentReply(
            status=ok(), segment=segment.to_proto(), collection=collection.to_proto()
        )

    @servicer_method(pb.StatusReply)
    async def SegmentFlushed(self, request: pb.SegmentInfo) -> pb.StatusReply:
        await self.service.segment_flushed(Segment.from_proto(request))
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.CollectionReply)
    async def CreateIndex(self, request: cpb.CreateIndexRequest) -> cpb.CollectionReply:
        collection = await self.service.indexes.create(
            await self.service.collection(name=request.collection_name), IndexSpec.from_proto(request.spec), request.replace
        )
        return cpb.CollectionReply(status=ok(), collection=collection.to_proto())

    @servicer_method(pb.StatusReply)
    async def DropIndex(self, request: cpb.DropIndexRequest) -> pb.StatusReply:
        await self.service.indexes.drop(await self.service.collection(name=request.collection_name), request.field_name)
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.StartBuildReply)
    async def StartBuild(self, request: cpb.BuildRef) -> cpb.StartBuildReply:
        job = await self.service.indexes.start_build(request.segment_id, request.index_version)
        if job is None:
            return cpb.StartBuildReply(status=ok(), proceed=False)
        return cpb.StartBuildReply(
            status=ok(),
            proceed=True,
            segment=job.segment.to_proto(),
            collection=job.collection.to_proto(),
            spec=job.spec.to_proto(),
            owner=job.owner.to_proto(),
        )

    @servicer_method(pb.StatusReply)
    async def FinishBuild(self, request: cpb.FinishBuildRequest) -> pb.StatusReply:
        await self.service.indexes.finish_build(
            request.build.segment_id, request.build.index_version, request.failed, request.reason
        )
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.AuthReply)
    async def Authenticate(self, request: cpb.Credentials) -> cpb.AuthReply:
        user = await self.users.authenticate(request.user, request.password, request.api_key)
        return cpb.AuthReply(status=ok(), user=user)

    @servicer_method(cpb.CreateApiKeyReply)
    async def CreateApiKey(self, request: cpb.CreateApiKeyRequest) -> cpb.CreateApiKeyReply:
        key = await self.users.create_api_key(request.user)
        return cpb.CreateApiKeyReply(status=ok(), api_key=key)

    @servicer_method(pb.StatusReply)
    async def CreateUser(self, request: cpb.UserRequest) -> pb.StatusReply:
        await self.users.create_user(request.user, request.password)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def UpdatePassword(self, request: cpb.UpdatePasswordRequest) -> pb.StatusReply:
        await self.users.update_password(request.user, request.old_password, request.new_password)
        return pb.StatusReply(status=ok())

    @servicer_method(pb.StatusReply)
    async def DropUser(self, request: cpb.UserRequest) -> pb.StatusReply:
        await self.users.drop_user(request.user)
        return pb.StatusReply(status=ok())

    @servicer_method(cpb.ListUsersReply)
    async def ListUsers(self, request: pb.Empty) -> cpb.ListUsersReply:
        return cpb.ListUsersReply(status=ok(), users=await self.users.list_users())

    async def WatchCatalog(
        self, request: pb.Empty, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[cpb.CatalogEvent]:
        async with self.service.changes.subscribe() as changes:
            yield cpb.CatalogEvent(kind=cpb.CatalogEvent.SNAPSHOT)
            while True:
                yield _event(await changes.get())


def _node_reply(upkeep: NodeUpkeep | None) -> cpb.NodeReply:
    if upkeep is None:
        return cpb.NodeReply(status=ok(), register_again=True)
    return cpb.NodeReply(
        status=ok(),
        drop_segment_ids=upkeep.drop_segment_ids,
        restore_segments=[s.to_proto() for s in upkeep.restore],
        channels=[c.to_proto() for c in upkeep.channels],
        index_versions=[
            cpb.IndexVersion(segment_id=i, version=v) for i, v in upkeep.index_versions.items()
        ],
        config=upkeep.config.to_proto(),
    )


def _event(change: CatalogChange) -> cpb.CatalogEvent:
    return cpb.CatalogEvent(
        kind=_EVENT_KINDS[change.kind],
        collection_id=change.collection_id,
        collection_name=change.collection_name,
    )
