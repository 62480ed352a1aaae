"""Deletes from the object store what the catalogue no longer refers to: the files of dropped
and compacted segments and of dropped or replaced indexes.

The catalogue schedules them (Catalog.collect_later) in the same transaction that forgets them,
so nothing is leaked by a coordinator that stops in between; this loop deletes the ones whose
grace period is over, and a deletion that fails stays scheduled for the next round.

Some files are never scheduled, because the catalogue never recorded them: the uploads of a data
node that was fenced (its channel moved while it was flushing, so its report was refused), or of
a segment forgotten while it was being written. A slower sweep lists the bucket and deletes the
files of segments the catalogue does not know, once they are older than the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from coordinator.catalog import Catalog
from quiver import bucket
from quiver.errors import METADATA_STORE_DOWN, QuiverError
from quiver.objectstore import ObjectStore
from quiver.runtime import first_of

log = logging.getLogger(__name__)

BATCH = 100  # prefixes per round
# Listing the whole bucket costs one request per thousand files: unrecorded files are rare, so
# they are looked for this seldom.
ORPHAN_SWEEP_S = 3600.0


class GarbageCollector:
    def __init__(
        self, catalog: Catalog, store: ObjectStore, interval_s: float, grace_s: float,
        orphan_sweep_s: float = ORPHAN_SWEEP_S,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.orphan_sweep_s = orphan_sweep_s

    async def run(self, stop: asyncio.Event) -> None:
        swept_at = time.monotonic()
        while not stop.is_set():
            await first_of(stop, timeout_s=self.interval_s)
            if stop.is_set():
                return
            try:
                await self.collect()
                if time.monotonic() - swept_at >= self.orphan_sweep_s:
                    await self.sweep_orphans()
                    swept_at = time.monotonic()
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

    async def sweep_orphans(self) -> int:
        """Deletes the files of segments the catalogue does not know, older than the grace
        period; returns how many it deleted."""
        # Listed before the catalogue is read: a file in the list belongs to a segment recorded
        # before it was uploaded, so a segment recorded meanwhile is never taken for an orphan.
        found = await self.store.list(bucket.SEGMENTS) + await self.store.list(bucket.INDEXES)
        known = {s.id for s in await self.catalog.segments_of([c.id for c in await self.catalog.list_collections()])}
        settled = datetime.now(UTC) - timedelta(seconds=self.grace_s)
        orphans = [
            f.key for f in found
            if (segment_id := bucket.segment_of(f.key)) is not None and segment_id not in known and f.last_modified < settled
        ]
        if orphans:
            await self.store.delete(orphans)
            log.warning("deleted %d files of segments the catalogue never recorded or forgot", len(orphans))
        return len(orphans)
