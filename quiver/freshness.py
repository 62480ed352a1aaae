"""Strong reads whose freshness the caller checks alongside the read instead of before it.

A Strong read must see every write acknowledged before it arrived. A data node can make sure of
that itself (ChannelReader.caught_up: before it reads, it asks the log's leader for a message of
the channel it has not applied), which puts a round trip to the log in front of every read. The
caller saves it on the common path: it sends the read as Eventually and, at the same time, asks
the log for a message of the channel after a hint, the position the channel's node reported
applied in its last reply. The node's reply says the position it had applied before this read
began. When the log holds nothing after the hint and the node had applied at least the hint,
every acknowledged write of the channel was in what the read saw. Otherwise (a write arrived,
the channel moved, or there is no hint yet) the read is sent again as Strong, and the node
checks for itself.

While writes keep arriving, most such checks would fail and cost a second read: after one that
finds a newer message, the channel is read as plain Strong for PLAIN_AFTER_WRITES_S.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from quiver.log import Log
from quiver_pb import common_pb2 as pb

# How long a channel whose check found a newer message is read with the node's own check.
PLAIN_AFTER_WRITES_S = 1.0
# Hints are only a shortcut: past this many channels they are all dropped (and learnt again).
MAX_HINTS = 100_000


class StrongReads:
    """The hints of one client (per channel: the position its node last reported applied)."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self._hints: dict[tuple[int, int], int] = {}
        self._plain_until: dict[tuple[int, int], float] = {}

    def check(self, collection_id: int, shards: Iterable[int]) -> FreshnessCheck | None:
        """The check of a read of these channels, to start once the read is sent; None when the
        read should be a plain Strong read (no hint yet, or writes are arriving)."""
        now = time.monotonic()
        hints = {}
        for shard in shards:
            key = (collection_id, shard)
            hint = self._hints.get(key)
            if hint is None or self._plain_until.get(key, 0.0) > now:
                return None
            hints[shard] = hint
        return FreshnessCheck(self, collection_id, hints)

    def record(self, collection_id: int, applied: Iterable[pb.ChannelInfo]) -> None:
        """Keeps the positions a node's reply reported as the channels' next hints."""
        if len(self._hints) > MAX_HINTS:  # channels of dropped collections pile up otherwise
            self._hints.clear()
            self._plain_until.clear()
        for channel in applied:
            self._hints[(collection_id, channel.shard)] = channel.checkpoint

    def _writes_arriving(self, collection_id: int, shard: int) -> None:
        self._plain_until[(collection_id, shard)] = time.monotonic() + PLAIN_AFTER_WRITES_S


class FreshnessCheck:
    """The log lookups of one read."""

    def __init__(self, reads: StrongReads, collection_id: int, hints: dict[int, int]) -> None:
        self._reads = reads
        self._collection_id = collection_id
        self._hints = hints
        self._lookups: dict[int, asyncio.Task[int | None]] = {}

    def start(self) -> None:
        """Asks the log, for each channel, for a message after its hint. Called after the read
        was sent: the read, the longer of the two, leaves first."""
        log = self._reads._log
        self._lookups = {
            shard: log.next_seq_after_now(log.channel_subject(self._collection_id, shard), hint)
            for shard, hint in self._hints.items()
        }

    async def fresh(self, shards: Iterable[int], applied: Iterable[pb.ChannelInfo]) -> bool:
        """Whether a node's read of these channels, which reported `applied`, saw every write
        acknowledged before the read began. A lookup that failed proves nothing: not fresh."""
        positions = {channel.shard: channel.checkpoint for channel in applied}
        fresh = True
        for shard in shards:
            try:
                newer = await asyncio.shield(self._lookups[shard])
            except Exception:
                fresh = False
                continue
            if newer is not None:
                self._reads._writes_arriving(self._collection_id, shard)
                fresh = False
            elif positions.get(shard, -1) < self._hints[shard]:
                fresh = False  # the node is behind the hint: moved, or restarted
        return fresh
