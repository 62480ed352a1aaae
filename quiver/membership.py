"""Registration and heartbeats of a worker node (data node, index node) with the coordinator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from quiver.errors import QuiverError
from quiver.rpc import call
from quiver.runtime import first_of
from quiver.schema import Node, RuntimeConfig, Segment
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub

log = logging.getLogger(__name__)

SegmentReport = Callable[[], list[Segment]]
DropSegments = Callable[[list[int]], Awaitable[None]]
KeepIndexes = Callable[[dict[int, int]], Awaitable[None]]
ApplyConfig = Callable[[RuntimeConfig], Awaitable[None]]


async def _no_segments_to_drop(segment_ids: list[int]) -> None:
    return None


async def _no_indexes(versions: dict[int, int]) -> None:
    return None


async def _ignore_config(config: RuntimeConfig) -> None:
    return None


class Membership:
    """Keeps a node registered: registers, then heartbeats; registers again when told to."""

    def __init__(
        self,
        coordinator: CoordinatorStub,
        node: Node,
        interval_s: float,
        report: SegmentReport = list,
        drop: DropSegments = _no_segments_to_drop,
        keep_indexes: KeepIndexes = _no_indexes,
        apply_config: ApplyConfig = _ignore_config,
    ) -> None:
        self._coordinator = coordinator
        self.node = node
        self._interval_s = interval_s
        self._report = report
        self._drop = drop
        self._keep_indexes = keep_indexes
        self._apply_config = apply_config
        self._config_version = -1
        self.config = RuntimeConfig()
        self.registered = asyncio.Event()
        self._last_contact = 0.0  # loop time of the last reply from the coordinator

    async def register(self, stop: asyncio.Event) -> None:
        """Registers, retrying until the coordinator answers or `stop` is set."""
        self.registered.clear()
        while not stop.is_set():
            try:
                reply = await call(
                    self._coordinator.RegisterNode,
                    cpb.RegisterNodeRequest(
                        node=self.node.to_proto(), segments=[s.to_proto() for s in self._report()]
                    ),
                    peer="coordinator",
                    timeout=5,
                )
            except QuiverError as error:
                log.warning("registration failed, retrying: %s", error.message)
                await first_of(stop, timeout_s=self._interval_s)
                continue
            self.registered.set()
            self._last_contact = asyncio.get_running_loop().time()
            log.info("registered with the coordinator as %s", self.node.node_id)
            await self._upkeep(reply)
            return

    async def run(self, stop: asyncio.Event) -> None:
        """Registers (unless already registered), then heartbeats until `stop` is set."""
        if not self.registered.is_set():
            await self.register(stop)
        while not stop.is_set():
            await first_of(stop, timeout_s=self._interval_s)
            if stop.is_set():
                return
            try:
                reply = await call(
                    self._coordinator.Heartbeat,
                    cpb.HeartbeatRequest(
                        node_id=self.node.node_id,
                        role=int(self.node.role),
                        segments=[s.to_proto() for s in self._report()],
                    ),
                    peer="coordinator",
                    timeout=max(self._interval_s, 1.0),
                )
            except QuiverError as error:
                log.warning("heartbeat failed: %s", error.message)
                continue
            self._last_contact = asyncio.get_running_loop().time()
            if reply.register_again:
                await self.register(stop)
            else:
                await self._upkeep(reply)

    async def ready(self) -> tuple[bool, str]:
        """Ready while registered and heard from the coordinator within a few heartbeats."""
        if not self.registered.is_set():
            return False, "not registered with the coordinator"
        silent_s = asyncio.get_running_loop().time() - self._last_contact
        if silent_s > 3 * max(self._interval_s, 1.0):
            return False, f"no answer from the coordinator for {silent_s:.0f}s"
        return True, ""

    async def _upkeep(self, reply: cpb.NodeReply) -> None:
        """Drops what the coordinator says is gone: segments of dropped collections, indexes
        that were dropped or replaced."""
        if reply.drop_segment_ids:
            log.info("dropping %d segments the catalog no longer knows", len(reply.drop_segment_ids))
            await self._drop(list(reply.drop_segment_ids))
        if reply.index_versions:
            await self._keep_indexes({v.segment_id: v.version for v in reply.index_versions})
        if reply.HasField("config") and reply.config.version != self._config_version:
            self.config = RuntimeConfig.from_proto(reply.config)
            self._config_version = reply.config.version
            await self._apply_config(self.config)

