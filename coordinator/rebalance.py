"""Rebalancing: moving shard channels (and the segments of their rows) from the most loaded live
data node to the least loaded one, such as a node that just joined, and off a node being drained
before it is removed, without a gap in service.

A move goes in three steps, one move at a time in the whole cluster:
1. The coordinator names the target the channel's standby. From its next heartbeat on, the
   target restores the channel's flushed segments from the object store, while the owner keeps
   consuming and serving the channel.
2. Once the target reports every one of them, the owner flushes what it has not (so only its
   last, small segments are left to restore) and the channel switches to the target, which
   restores those and replays the log from the checkpoint.
3. The old owner hears at its next heartbeat that the channel is no longer its and drops it.
Reads that reach the target in the moment between 2 and its catch-up get a retriable error,
which the proxies retry.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from coordinator.catalog import Catalog
from coordinator.changes import ChangeFeed
from coordinator.datanodes import DataNodes
from quiver import metrics
from quiver.errors import QuiverError
from quiver.schema import Channel, Node, NodeRole, Segment, SegmentState

log = logging.getLogger(__name__)

# A channel weighs its segments' bytes and this much besides: with little data, channels are
# spread by their number.
CHANNEL_WEIGHT_BYTES = 1 << 20
# Weighing the channels reads every segment: a plan is made when the live data nodes or where
# the channels are changed, and otherwise this often (segments grow slowly).
REPLAN_S = 30.0

RecordReports = Callable[[str, list[Segment]], Awaitable[object]]


class Rebalancer:
    def __init__(self, catalog: Catalog, datanodes: DataNodes, changes: ChangeFeed) -> None:
        self.catalog = catalog
        self.datanodes = datanodes
        self.changes = changes
        self._warmed: set[tuple[int, int, str]] = set()  # (collection, shard, standby) ready to switch
        self._planned: tuple[frozenset[str], frozenset[str], frozenset[tuple[int, int, str]]] | None = None
        self._planned_at = 0.0

    async def standby_segments(self, node_id: str, channels: list[Channel], reported: list[Segment]) -> list[Segment]:
        """The flushed segments of the channels `node_id` prepares to take over (it restores
        them, and keeps them although the catalogue places them on their owner). Notes a
        channel as ready to switch once the node reports all of them."""
        standby = [c for c in channels if c.standby == node_id]
        if not standby:
            return []
        present = {s.id for s in reported}
        segments = await self.catalog.segments_of(sorted({c.collection_id for c in standby}))
        wanted = []
        for channel in standby:
            own = [
                s for s in segments
                if s.collection_id == channel.collection_id and s.shard == channel.shard
                and s.node_id == channel.node_id and s.state is SegmentState.FLUSHED
            ]
            if all(s.id in present for s in own):
                self._warmed.add((channel.collection_id, channel.shard, node_id))
            wanted += own
        return wanted

    async def step(self, record_reports: RecordReports) -> None:
        """Switches a move whose standby is ready, or starts the next move worth making."""
        nodes = {n.node_id: n for n in await self.catalog.nodes() if n.role is NodeRole.DATA and n.alive}
        draining = await self.catalog.draining()
        channels = await self.catalog.all_channels()
        moving = [c for c in channels if c.standby]
        for channel in moving:
            if channel.node_id not in nodes or channel.standby not in nodes or channel.standby in draining:
                self._warmed.discard((channel.collection_id, channel.shard, channel.standby))
                await self.catalog.set_standby(channel, "")  # a node was lost, or is leaving
            elif (channel.collection_id, channel.shard, channel.standby) in self._warmed:
                await self._switch(channel, nodes[channel.node_id], record_reports)
        if moving:
            return
        placed = (frozenset(nodes), frozenset(draining), frozenset((c.collection_id, c.shard, c.node_id) for c in channels))
        if placed == self._planned and time.monotonic() - self._planned_at < REPLAN_S:
            return
        self._planned, self._planned_at = placed, time.monotonic()
        await self._plan(channels, [n for n in nodes.values() if n.node_id not in draining], draining)

    async def _plan(self, channels: list[Channel], targets: list[Node], draining: set[str]) -> None:
        """Names a standby on the lightest node for a channel of a node being drained, or else
        for the channel whose move from the heaviest node to the lightest evens them out best,
        when such a move makes the heaviest lighter."""
        if not targets:
            return
        weights = await self._weights(channels)
        load = Counter({n.node_id: 0 for n in targets})
        for channel in channels:
            if channel.node_id in load:
                load[channel.node_id] += weights[(channel.collection_id, channel.shard)]
        lightest = min(load, key=lambda n: (load[n], n))
        leaving = [c for c in channels if c.node_id in draining]
        if leaving:
            best, why = leaving[0], f"{leaving[0].node_id} is being drained"
        else:
            heaviest = max(load, key=lambda n: (load[n], n))
            gap = load[heaviest] - load[lightest]
            candidates = [
                c for c in channels
                if c.node_id == heaviest and weights[(c.collection_id, c.shard)] < gap  # the heaviest gets lighter
            ]
            if not candidates:
                return
            best = min(candidates, key=lambda c: (abs(gap - 2 * weights[(c.collection_id, c.shard)]), c.collection_id, c.shard))
            why = "to even out the load"
        if await self.catalog.set_standby(best, lightest):
            log.info(
                "channel %d/%d moves from %s to %s (%s): restoring its segments there first",
                best.collection_id, best.shard, best.node_id, lightest, why,
            )

    async def _weights(self, channels: list[Channel]) -> Counter[tuple[int, int]]:
        weights: Counter[tuple[int, int]] = Counter({(c.collection_id, c.shard): CHANNEL_WEIGHT_BYTES for c in channels})
        for segment in await self.catalog.segments_of(sorted({c.collection_id for c in channels})):
            weights[(segment.collection_id, segment.shard)] += segment.data_bytes
        return weights

    async def _switch(self, channel: Channel, owner: Node, record_reports: RecordReports) -> None:
        try:
            flushed = await self.datanodes.flush(owner, [channel.collection_id])
        except QuiverError as error:
            log.warning("channel %d/%d stays on %s for now: its flush failed: %s",
                        channel.collection_id, channel.shard, owner.node_id, error.message)
            return
        await record_reports(owner.node_id, flushed)
        self._warmed.discard((channel.collection_id, channel.shard, channel.standby))
        if await self.catalog.move_channel(channel, channel.standby):
            metrics.CHANNEL_MOVES.labels("rebalance").inc()  # draining included
            log.info("channel %d/%d moved from %s to %s", channel.collection_id, channel.shard, owner.node_id, channel.standby)
            self.changes.nodes_changed()
