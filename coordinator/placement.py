"""Which data node consumes each shard channel (and serves the segments of its rows).

A channel without a live consumer (new, or its node's lease lapsed) goes to the live data node
with the fewest channels. The new consumer learns it from its next heartbeat reply, restores the
channel's flushed segments from the object store and replays the log from the checkpoint, so a
node can be lost with its disk and nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
from collections import Counter

from coordinator.catalog import Catalog
from quiver import metrics
from quiver.schema import Channel, Node, NodeRole

log = logging.getLogger(__name__)


class Placement:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def new_channels(self, collection_id: int, shards: int) -> list[Channel]:
        """A new collection's channels, spread over the live data nodes (none: unassigned
        until one registers)."""
        targets = await self._targets(await self._live_data_nodes())
        load = Counter({n.node_id: 0 for n in targets})
        load.update(c.node_id for c in await self.catalog.all_channels() if c.node_id in load)
        channels = []
        for shard in range(shards):
            node_id = _least_loaded(load)
            if node_id:
                load[node_id] += 1
            channels.append(Channel(collection_id, shard, node_id))
        return channels

    async def reassign_orphans(self) -> list[Channel]:
        """Hands every channel whose consumer is not alive to a live data node; returns the
        channels it moved (as they were)."""
        live = await self._live_data_nodes()
        targets = await self._targets(live)
        if not targets:
            return []
        alive = {n.node_id for n in live}  # a node being drained still serves its channels
        channels = await self.catalog.all_channels()
        load = Counter({n.node_id: 0 for n in targets})
        load.update(c.node_id for c in channels if c.node_id in load)
        moved = []
        for channel in channels:
            if channel.node_id in alive:
                continue
            node_id = _least_loaded(load)
            if await self.catalog.move_channel(channel, node_id):
                load[node_id] += 1
                moved.append(channel)
                metrics.CHANNEL_MOVES.labels("failover").inc()
                metrics.LAST_CHANNEL_MOVE.set_to_current_time()
                log.warning(
                    "channel %d/%d moves from %s to %s", channel.collection_id, channel.shard,
                    channel.node_id or "no node", node_id,
                )
        return moved

    async def _live_data_nodes(self) -> list[Node]:
        return [n for n in await self.catalog.nodes() if n.role is NodeRole.DATA and n.alive]

    async def _targets(self, live: list[Node]) -> list[Node]:
        """The live data nodes a channel may go to: those not being drained (all of them when
        every one is: serving the channel comes first)."""
        draining = await self.catalog.draining()
        return [n for n in live if n.node_id not in draining] or live


def _least_loaded(load: Counter[str]) -> str:
    """The node with the fewest channels (ties by node id); empty when there is none."""
    return min(load, key=lambda node_id: (load[node_id], node_id), default="")
