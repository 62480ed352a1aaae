"""Scheduled syncs: `daily` indexes a period after their last run, `on_source_change` indexes a
short delay after the last change to their source directory (a burst of uploads makes one
sync). Due entries sit in one Redis sorted set; whichever ingest node takes an entry off it
queues the sync, so each is queued once however many nodes poll.
"""

from __future__ import annotations

import asyncio
import logging

from ingestnode.models import new_id
from ingestnode.store import Busy, ManagedStore
from quiver.ids import now_ms

log = logging.getLogger(__name__)


class SyncScheduler:
    def __init__(self, store: ManagedStore, poll_s: float, retry_s: float) -> None:
        self.store = store
        self.poll_s = poll_s
        self.retry_s = retry_s  # how soon to try again when the index's sync is running

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.queue_due()
            except Exception:  # Redis unreachable for a moment: try again at the next poll
                log.exception("scheduled syncs: poll failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass

    async def queue_due(self) -> None:
        now = now_ms()
        for index_id in await self.store.due_syncs(now):
            if not await self.store.claim_scheduled(index_id, now):
                continue
            try:
                await self.store.request_sync(index_id, new_id("job"), now)
                log.info("index %s: scheduled sync queued", index_id)
            except KeyError:
                pass  # the index was deleted
            except Busy:
                # A queued sync will see the change; a running one may have listed the directory
                # before it, so the scheduled sync waits for it to end.
                job = await self.store.job_state(index_id)
                if job is not None and job.state == "running":
                    await self.store.schedule_sync(index_id, now + int(self.retry_s * 1000))
