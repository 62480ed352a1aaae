"""Deletes from the object store what the catalogue no longer refers to: the files of dropped
and compacted segments and of dropped or replaced indexes.

The catalogue schedules them (Catalog.collect_later) in the same transaction that forgets them,
so nothing is leaked by a coordinator that stops in between; this loop deletes the ones whose
grace period is over, and a deletion that fails stays scheduled for the next round.
"""

from __future__ import annotations

import asyncio
import logging

from coordinator.catalog import Catalog
from quiver.errors import METADATA_STORE_DOWN, QuiverError
from quiver.objectstore import ObjectStore
from quiver.runtime import first_of

log = logging.getLogger(__name__)

BATCH = 100  # prefixes per round


class GarbageCollector:
    def __init__(self, catalog: Catalog, store: ObjectStore, interval_s: float) -> None:
        self.catalog = catalog
        self.store = store
        self.interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await first_of(stop, timeout_s=self.interval_s)
            if stop.is_set():
                return
            try:
                await self.collect()
            except (QuiverError, *METADATA_STORE_DOWN) as error:
                log.warning("garbage collection postponed: %s", error)

    async def collect(self) -> int:
        """Deletes the objects of every due prefix; returns how many objects it deleted."""
        deleted = 0
        while prefixes := await self.catalog.due_garbage(BATCH):
            for prefix in prefixes:
                # A prefix ending in "/" is a folder of objects; any other is one object's key.
                keys = [found.key for found in await self.store.list(prefix)] if prefix.endswith("/") else [prefix]
                await self.store.delete(keys)
                deleted += len(keys)
            await self.catalog.garbage_collected(prefixes)
        if deleted:
            log.info("deleted %d objects of dropped segments and indexes", deleted)
        return deleted
