"""The feed of catalogue changes that proxies watch to refresh what they cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum

from quiver.schema import Collection


class ChangeKind(Enum):
    COLLECTION = "collection"
    NODES = "nodes"


@dataclass(frozen=True)
class CatalogChange:
    kind: ChangeKind
    collection_id: int = 0
    collection_name: str = ""


class ChangeFeed:
    """Fans catalogue changes out to every watching proxy."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[CatalogChange]] = set()

    def publish(self, change: CatalogChange) -> None:
        for queue in self._queues:
            queue.put_nowait(change)

    def collection_changed(self, collection: Collection) -> None:
        self.publish(CatalogChange(ChangeKind.COLLECTION, collection.id, collection.name))

    def nodes_changed(self) -> None:
        self.publish(CatalogChange(ChangeKind.NODES))

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[CatalogChange]]:
        queue: asyncio.Queue[CatalogChange] = asyncio.Queue()
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
