"""Registration and heartbeats of a worker node (data node, index node) with the coordinator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from quiver.errors import QuiverError
from quiver.rpc import call
from quiver.runtime import first_of
from quiver.schema import Channel, Node, NodeRole, RuntimeConfig, Segment
from quiver_pb import coordinator_pb2 as cpb
from quiver_pb.coordinator_pb2_grpc import CoordinatorStub

log = logging.getLogger(__name__)

SegmentReport = Callable[[], list[Segment]]
DropSegments = Callable[[list[int]], Awaitable[None]]
KeepIndexes = Callable[[dict[int, int]], Awaitable[None]]
ApplyConfig = Callable[[RuntimeConfig], Awaitable[None]]
RestoreSegments = Callable[[list[Segment]], None]
ChannelReport = Callable[[], list[Channel]]
ServeChannels = Callable[[list[Channel]], Awaitable[None]]


async def _no_segments_to_drop(segment_ids: list[int]) -> None:
    return None


async def _no_indexes(versions: dict[int, int]) -> None:
    return None


async def _ignore_config(config: RuntimeConfig) -> None:
    return None


def _nothing_to_restore(segments: list[Segment]) -> None:
    return None


async def _no_channels(channels: list[Channel]) -> None:
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
        restore: RestoreSegments = _nothing_to_restore,
        channels: ChannelReport = list,
        serve_channels: ServeChannels = _no_channels,
    ) -> None:
        self._coordinator = coordinator
        self.node = node
        self._interval_s = interval_s
        self._report = report
        self._drop = drop
        self._keep_indexes = keep_indexes
        self._apply_config = apply_config
        self._restore = restore
        self._channels = channels
        self._serve_channels = serve_channels
        self._config_version = -1
        self.config = RuntimeConfig()
        self.registered = asyncio.Event()
        self._stop = asyncio.Event()  # the role's, once run() starts
        self._beat_lock = asyncio.Lock()
        self._beats_started = 0
        self._last_contact = 0.0  # loop time of the last reply from the coordinator

    async def register(self, stop: asyncio.Event) -> None:
        """Registers, retrying until the coordinator answers or `stop` is set."""
        self.registered.clear()
        while not stop.is_set():
            try:
                reply = await call(
                    self._coordinator.RegisterNode,
                    cpb.RegisterNodeRequest(
                        node=self.node.to_proto(),
                        segments=[s.to_proto() for s in self._report()],
                        channels=[c.to_proto() for c in self._channels()],
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
        self._stop = stop
        while not stop.is_set():
            await first_of(stop, timeout_s=self._interval_s)
            if stop.is_set():
                return
            await self.heartbeat_now()

    async def heartbeat_now(self) -> None:
        """A heartbeat at once (also when a read names a channel this node has not heard of yet):
        callers that arrive while one runs share the next, which starts after they arrived."""
        arrived = self._beats_started
        async with self._beat_lock:
            if self._beats_started > arrived:  # one started after this caller arrived, and is done
                return
            self._beats_started += 1
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        try:
            reply = await call(
                self._coordinator.Heartbeat,
                cpb.HeartbeatRequest(
                    node_id=self.node.node_id,
                    role=int(self.node.role),
                    segments=[s.to_proto() for s in self._report()],
                    channels=[c.to_proto() for c in self._channels()],
                ),
                peer="coordinator",
                timeout=max(self._interval_s, 1.0),
            )
        except QuiverError as error:
            log.warning("heartbeat failed: %s", error.message)
            return
        self._last_contact = asyncio.get_running_loop().time()
        if reply.register_again:
            await self.register(self._stop)
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
        """Drops what the coordinator says is gone (segments of dropped collections or moved
        channels, indexes that were dropped or replaced), restores what the node should serve
        but lacks, and consumes the channels it is given (data nodes)."""
        if reply.drop_segment_ids:
            log.info("dropping %d segments the catalog no longer knows", len(reply.drop_segment_ids))
            await self._drop(list(reply.drop_segment_ids))
        if reply.restore_segments:
            log.info("restoring %d segments from the object store", len(reply.restore_segments))
            self._restore([Segment.from_proto(s) for s in reply.restore_segments])
        if self.node.role is NodeRole.DATA:
            await self._serve_channels([Channel.from_proto(c) for c in reply.channels])
        if reply.index_versions:
            await self._keep_indexes({v.segment_id: v.version for v in reply.index_versions})
        if reply.HasField("config") and reply.config.version != self._config_version:
            self.config = RuntimeConfig.from_proto(reply.config)
            self._config_version = reply.config.version
            await self._apply_config(self.config)

