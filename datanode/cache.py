"""The data node's memory cache: flushed segments whose vectors, columns and index are in memory.

Kept within the runtime setting cpu_cache_capacity_gb, least recently used first out. A segment
that a running request needs stays, even above capacity; the request evicts on its way out.
Evicted segments are read back from their files when a request needs them again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from datanode.segments import LocalSegment, Resident
from quiver.schema import SegmentState


class MemoryCache:
    def __init__(self, read: Callable[[LocalSegment], Awaitable[Resident]]) -> None:
        self._read = read  # reads a segment's resident part from its files, off the event loop
        self.capacity_bytes = 0
        self._segments: OrderedDict[int, LocalSegment] = OrderedDict()

    def touch(self, segments: list[LocalSegment]) -> None:
        for segment in segments:
            if segment.state is SegmentState.FLUSHED:
                self._segments[segment.id] = segment
                self._segments.move_to_end(segment.id)

    def forget(self, segment_id: int) -> None:
        self._segments.pop(segment_id, None)

    def evict(self, keep: frozenset[int] = frozenset()) -> None:
        """Evicts the least recently used segments, but `keep`, until the cache fits."""
        total = sum(s.resident_bytes for s in self._segments.values())
        for segment_id, segment in list(self._segments.items()):
            if total <= self.capacity_bytes:
                return
            if segment_id in keep:
                continue
            total -= segment.resident_bytes
            segment.evict()
            del self._segments[segment_id]

    async def make_resident(self, segments: list[LocalSegment]) -> None:
        for segment in segments:
            async with segment.load_lock:
                if segment.state is SegmentState.FLUSHED and not segment.is_resident:
                    segment.make_resident(await self._read(segment))
        self.touch(segments)
        self.evict(keep=frozenset(s.id for s in segments))
