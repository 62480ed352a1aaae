"""The shard channels a data node consumes from the log: their messages applied, in order, to
the growing segments of their partitions (inserts) and to every segment of the collection
(deletes), with each message's log sequence as the rows' write sequence number.

A channel is consumed from its checkpoint: every message after it is applied again, and the rows
of an insert that a flushed segment of the same partition already holds (its sequence is at or
below the segment's last) are skipped, so a restart or a move to another node applies nothing
twice and loses nothing. A channel's checkpoint is the sequence below which everything it
carried is in the object store: the first row of a segment not yet flushed, the first delete
not yet uploaded, or, when nothing is pending, the last message applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa

from datanode.segments import LocalSegment
from datanode.storage import SegmentMeta
from quiver import channels, metrics
from quiver.errors import ErrorCode, QuiverError
from quiver.log import ChannelReader, Log, LogMessage
from quiver.packing import unpack_table
from quiver.schema import Channel, Collection, Consistency, Segment, SegmentState

log = logging.getLogger(__name__)

# How long a read waits for its channels to catch up with the log before it gives up.
CATCH_UP_S = 10.0
# Bounded consistency: a read is served without waiting when the channel caught up this
# recently (Milvus' default graceful time is 5 s).
BOUNDED_STALENESS_S = 5.0


@dataclass(frozen=True)
class SegmentSpec:
    """What the coordinator says about a segment: the segment and its collection."""

    segment: Segment
    collection: Collection


class CoordinatorLink(Protocol):
    """What the node needs from the coordinator (implemented over gRPC in server.py)."""

    async def allocate_segment(self, collection_id: int, partition_id: int, shard: int) -> SegmentSpec: ...

    async def segment_spec(self, segment_id: int) -> SegmentSpec: ...

    async def segment_flushed(self, segment: Segment) -> None: ...


@dataclass(frozen=True)
class ReadScope:
    """What a read covers on this node: the channels it answers for, and how fresh it must be."""

    shards: tuple[int, ...] = (0,)
    consistency: Consistency = Consistency.STRONG
    session: dict[int, int] = field(default_factory=dict)  # SESSION: shard -> the client's last write


@dataclass
class ConsumedChannel:
    collection_id: int
    shard: int
    start_seq: int  # the checkpoint it was assigned with, plus one
    reader: ChannelReader | None = None  # set once the channel's flushed segments are loaded
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    growing: dict[int, LocalSegment] = field(default_factory=dict)  # partition id -> its growing segment
    flushed_through: dict[int, int] = field(default_factory=dict)  # partition id -> last flushed sequence
    caught_up_at: float = 0.0  # monotonic time of the last completed catch-up
    task: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[int, int]:
        return self.collection_id, self.shard

    @property
    def name(self) -> str:
        return f"{self.collection_id}/{self.shard}"


class Channels:
    def __init__(
        self,
        node_id: str,
        segments: dict[int, LocalSegment],
        segments_dir: Path,
        coordinator: CoordinatorLink,
        log_: Log,
        seal_later: Callable[[LocalSegment], None],
        restoring: Callable[[int, int], bool],
        reconcile_deletes: Callable[[list[LocalSegment]], Awaitable[None]],
    ) -> None:
        self.node_id = node_id
        self.segments = segments  # the node's segments, shared with the service
        self.segments_dir = segments_dir
        self.coordinator = coordinator
        self.log = log_
        self._seal_later = seal_later  # persists a sealed segment and reports it flushed
        self._restoring = restoring  # whether segments of (collection, shard) are still restoring
        # Adds the deletes the bucket has of flushed segments, and they lack.
        self._reconcile_deletes = reconcile_deletes
        self.consumed: dict[tuple[int, int], ConsumedChannel] = {}
        # Asks the coordinator at once which channels to consume (a heartbeat): set by the role.
        self.refresh: Callable[[], Awaitable[None]] = _nothing_to_refresh

    # -- which channels ----------------------------------------------------------------------

    async def serve(self, assigned: list[Channel]) -> None:
        """Consumes exactly these channels: starts the new ones, stops the others."""
        wanted = {(c.collection_id, c.shard): c for c in assigned}
        for key in [k for k in self.consumed if k not in wanted]:
            await self._stop(self.consumed.pop(key))
        for key, channel in wanted.items():
            if key not in self.consumed:
                consumed = ConsumedChannel(channel.collection_id, channel.shard, channel.checkpoint + 1)
                consumed.task = asyncio.create_task(self._consume(consumed))
                self.consumed[key] = consumed
                log.info("consuming channel %s from sequence %d", consumed.name, consumed.start_seq)

    async def _stop(self, consumed: ConsumedChannel) -> None:
        """Another node consumes it now (or its collection was dropped): its growing rows are
        dropped here, the new consumer replays them from the log."""
        if consumed.task is not None:
            consumed.task.cancel()
            await asyncio.gather(consumed.task, return_exceptions=True)
        if consumed.reader is not None:
            await consumed.reader.close()
        for segment in consumed.growing.values():
            self.segments.pop(segment.id, None)
            await asyncio.to_thread(segment.remove_files)
        log.info("stopped consuming channel %s", consumed.name)

    async def close(self) -> None:
        for consumed in list(self.consumed.values()):
            if consumed.task is not None:
                consumed.task.cancel()
                await asyncio.gather(consumed.task, return_exceptions=True)
            if consumed.reader is not None:
                await consumed.reader.close()
        self.consumed.clear()

    def positions(self) -> list[Channel]:
        """Each consumed channel with its checkpoint, for the coordinator."""
        return [
            Channel(c.collection_id, c.shard, self.node_id, self._checkpoint(c))
            for c in self.consumed.values()
            if c.reader is not None
        ]

    def _checkpoint(self, consumed: ConsumedChannel) -> int:
        assert consumed.reader is not None
        pending = [consumed.reader.position]
        for segment in self.segments.values():
            if segment.meta.collection_id == consumed.collection_id and segment.meta.shard == consumed.shard:
                pending += [
                    lsn - 1 for lsn in (segment.unpersisted_rows_lsn, segment.unpersisted_deletes_lsn) if lsn is not None
                ]
        return max(min(pending), consumed.start_seq - 1)

    # -- consuming ----------------------------------------------------------------------------

    async def _consume(self, consumed: ConsumedChannel) -> None:
        while self._restoring(consumed.collection_id, consumed.shard):
            await asyncio.sleep(0.1)  # deletes must reach every flushed segment of the channel
        flushed = [
            s for s in self.segments.values()
            if (s.meta.collection_id, s.meta.shard) == consumed.key and s.state is SegmentState.FLUSHED and s.count
        ]
        # A copy made before the channel was this node's (restored to take it over, or kept from
        # an earlier stint) may lack deletes its owner persisted, which the log no longer replays.
        await self._reconcile_deletes(flushed)
        for segment in flushed:
            last = consumed.flushed_through.get(segment.meta.partition_id, 0)
            consumed.flushed_through[segment.meta.partition_id] = max(last, segment.max_lsn)
        subject = self.log.channel_subject(consumed.collection_id, consumed.shard)
        consumed.reader = self.log.consume(subject, consumed.start_seq)
        consumed.ready.set()
        try:
            async for message in consumed.reader:
                try:
                    await self._apply(consumed, message)
                except QuiverError as error:
                    if error.code is ErrorCode.CHANNEL_MOVED:
                        log.warning("channel %s: %s; stopping", consumed.name, error.message)
                        return
                    log.error("channel %s: message %d skipped: %s", consumed.name, message.seq, error.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consuming channel %s failed", consumed.name)

    async def _apply(self, consumed: ConsumedChannel, message: LogMessage) -> None:
        record = channels.unpack(message.data)
        if isinstance(record, channels.DeleteRecord):
            deleted = apply_delete(self.segments, consumed.collection_id, set(record.partition_ids), record.ids, message.seq)
            metrics.ROWS_DELETED.inc(deleted)
            return
        if message.seq <= consumed.flushed_through.get(record.partition_id, 0):
            return  # a flushed segment holds these rows already
        segment = consumed.growing.get(record.partition_id)
        if segment is None:
            segment = await self._new_growing(consumed, record.partition_id)
        vectors = segment.meta.layout.unpack(record.vectors)
        scalars = decode_scalars(record.scalars, segment)
        rows = len(record.ids)
        if len(vectors) != rows or (scalars is not None and scalars.num_rows != rows):
            raise QuiverError(ErrorCode.INVALID_VECTORS, f"{rows} ids, {len(vectors)} vectors: a malformed insert")
        segment.append(record.ids, vectors, scalars, message.seq)
        metrics.ROWS_INSERTED.inc(rows)
        if segment.is_full:
            await self.seal(consumed, record.partition_id)

    async def _new_growing(self, consumed: ConsumedChannel, partition_id: int) -> LocalSegment:
        delay = 0.2
        while True:
            try:
                spec = await self.coordinator.allocate_segment(consumed.collection_id, partition_id, consumed.shard)
                break
            except QuiverError as error:
                if not error.retriable:
                    raise
                log.warning("channel %s: no new segment yet: %s", consumed.name, error.message)
                await asyncio.sleep(delay)
                delay = min(2 * delay, 5.0)
        meta = SegmentMeta(
            id=spec.segment.id,
            collection_id=consumed.collection_id,
            partition_id=partition_id,
            schema=spec.collection.schema,
            seal_bytes=spec.collection.growing_seal_bytes,
            shard=consumed.shard,
        )
        segment = await asyncio.to_thread(LocalSegment.create, meta, self.segments_dir / str(meta.id))
        self.segments[meta.id] = segment
        consumed.growing[partition_id] = segment
        return segment

    async def seal(self, consumed: ConsumedChannel, partition_id: int) -> None:
        """Seals a partition's growing segment: the next rows start a new one; the sealed one is
        persisted and reported in the background."""
        segment = consumed.growing.pop(partition_id)
        segment.state = SegmentState.SEALED
        self._seal_later(segment)

    # -- reads --------------------------------------------------------------------------------

    async def wait_fresh(
        self, collection_id: int, shards: tuple[int, ...], consistency: Consistency, session: dict[int, int]
    ) -> None:
        """Waits until the node's channels of a read are as fresh as it asks, all at once; raises
        a retriable error naming a channel this node does not (yet) serve."""
        if len(shards) == 1:  # the common case, without a task per channel
            await self._wait_fresh(collection_id, shards[0], consistency, session)
            return
        await asyncio.gather(*(self._wait_fresh(collection_id, shard, consistency, session) for shard in shards))

    async def _wait_fresh(
        self, collection_id: int, shard: int, consistency: Consistency, session: dict[int, int]
    ) -> None:
        if (collection_id, shard) not in self.consumed:  # assigned a moment ago, maybe
            await self.refresh()
        consumed = self.consumed.get((collection_id, shard))
        if consumed is None:
            raise QuiverError(
                ErrorCode.UNAVAILABLE, f"channel {collection_id}/{shard} is not served by data node {self.node_id}"
            )
        if not consumed.ready.is_set():
            try:
                await asyncio.wait_for(consumed.ready.wait(), CATCH_UP_S)  # its segments are restoring
            except TimeoutError:
                raise QuiverError(
                    ErrorCode.UNAVAILABLE,
                    f"channel {consumed.name} is still being restored on data node {self.node_id}; retry shortly",
                ) from None
        assert consumed.reader is not None
        if consistency is Consistency.EVENTUALLY:
            return
        if consistency is Consistency.SESSION and consumed.reader.position >= session.get(shard, 0):
            return
        if consistency is Consistency.BOUNDED and time.monotonic() - consumed.caught_up_at < BOUNDED_STALENESS_S:
            return
        started = time.monotonic()
        await consumed.reader.caught_up(CATCH_UP_S)
        consumed.caught_up_at = started

    def applied(self, collection_id: int, shards: tuple[int, ...]) -> dict[int, int]:
        """Of these channels, each one consumed and ready: the sequence of its last applied
        message. A read that starts after this call sees at least that much (a caller that finds
        no newer message in the log knows the read was fresh)."""
        positions = {}
        for shard in shards:
            consumed = self.consumed.get((collection_id, shard))
            if consumed is not None and consumed.reader is not None:
                positions[shard] = consumed.reader.position
        return positions

    async def flush(self, collection_ids: set[int]) -> list[LocalSegment]:
        """Seals the growing segments of these collections' channels (all when empty) once every
        write acknowledged before the call is applied; returns the sealed segments."""
        await self.refresh()  # a channel assigned a moment ago must be flushed too
        sealed = []
        for consumed in list(self.consumed.values()):
            if collection_ids and consumed.collection_id not in collection_ids:
                continue
            await asyncio.wait_for(consumed.ready.wait(), CATCH_UP_S)
            assert consumed.reader is not None
            await consumed.reader.caught_up(CATCH_UP_S)
            for partition_id in list(consumed.growing):
                segment = consumed.growing.pop(partition_id)
                if segment.count:
                    segment.state = SegmentState.SEALED
                    sealed.append(segment)
                else:  # allocated, then every row was skipped: nothing to keep
                    self.segments.pop(segment.id, None)
                    await asyncio.to_thread(segment.remove_files)
        return sealed


async def _nothing_to_refresh() -> None:
    return None


def apply_delete(
    segments: dict[int, LocalSegment], collection_id: int, partitions: set[int], ids: np.ndarray, lsn: int
) -> int:
    """Hides the rows with these ids written before `lsn` in every segment of the collection."""
    return sum(
        s.delete(ids, lsn)
        for s in segments.values()
        if s.meta.collection_id == collection_id and (not partitions or s.meta.partition_id in partitions)
    )


def decode_scalars(data: bytes | memoryview, segment: LocalSegment) -> pa.Table | None:
    """The scalar columns of an insert (an Arrow IPC stream); they must match the schema."""
    if not segment.has_scalars:
        if len(data):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "this collection has no scalar fields")
        return None
    expected = segment.meta.schema.scalar_schema
    table = unpack_table(bytes(data))
    if table is None or not table.schema.equals(expected):
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER, f"scalar fields {table.schema if table else None} do not match the schema {expected}"
        )
    return table
