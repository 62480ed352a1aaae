"""Ids of collections, partitions, segments, rows and index versions, from one counter."""

from __future__ import annotations

import asyncio

from coordinator.catalog import Catalog


class IdBlocks:
    """Hands out ids from a block reserved in Redis; a new block when it runs out."""

    def __init__(self, catalog: Catalog, block_size: int) -> None:
        self._catalog = catalog
        self._block_size = block_size
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def allocate(self, count: int) -> int:
        async with self._lock:
            if self._end - self._next < count:
                size = max(count, self._block_size)
                self._next = await self._catalog.allocate_ids(size)
                self._end = self._next + size
            start = self._next
            self._next += count
            return start
