"""The index node's gRPC servicer."""

from __future__ import annotations

from quiver.devices import gpu_count
from quiver.rpc import ok, servicer_method
from quiver.schema import Node
from quiver_pb import common_pb2 as pb
from quiver_pb import indexnode_pb2 as ipb
from quiver_pb.indexnode_pb2_grpc import IndexNodeServicer


class IndexNodeServer(IndexNodeServicer):
    def __init__(self) -> None:
        self.node: Node | None = None  # set once the server is bound and the address known

    @servicer_method(ipb.IndexNodeReply)
    async def Describe(self, request: pb.Empty) -> ipb.IndexNodeReply:
        node = self.node.to_proto() if self.node else None
        return ipb.IndexNodeReply(status=ok(), node=node, gpu_count=gpu_count())
