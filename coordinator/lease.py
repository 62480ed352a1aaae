"""One active coordinator: the one holding the lease in Redis. Standbys wait for it to expire.

The holder renews the lease at a third of its TTL, and takes it back if Redis lost it (restarted
from an append-only file older than the last renewal). A holder that finds another coordinator
holding it (after a pause longer than the TTL), or cannot renew it before it expires, stops at
once rather than keep writing beside the new holder; its supervisor restarts it as a standby.
"""

from __future__ import annotations

import asyncio
import logging

from coordinator.catalog import Catalog
from quiver.runtime import first_of

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This coordinator no longer holds the lease and must stop writing."""


class Lease:
    def __init__(self, catalog: Catalog, ttl_s: float, holder: str) -> None:
        """`holder` names this coordinator: its address, so that one restarted in place (same
        address) takes its lease back at once instead of waiting for it to expire."""
        self._catalog = catalog
        self._ttl_s = ttl_s
        self.holder = holder
        self.held = False

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Waits until this coordinator holds the lease (True) or `stop` is set (False)."""
        waiting_logged = False
        while not stop.is_set():
            try:
                if await self._catalog.take_lease(self.holder, self._ttl_s):
                    self.held = True
                    log.info("holding the coordinator lease as %s", self.holder)
                    return True
                if not waiting_logged:
                    log.info("another coordinator is active: standing by")
                    waiting_logged = True
            except Exception as error:  # Redis unreachable: keep waiting
                log.warning("cannot reach Redis for the lease: %s", error)
            await first_of(stop, timeout_s=self._ttl_s / 3)
        return False

    async def keep(self, stop: asyncio.Event) -> None:
        """Renews the lease until `stop` is set, then releases it; raises LeaseLost if it
        cannot be renewed before it expires."""
        renewed_at = asyncio.get_running_loop().time()
        delay = self._ttl_s / 3
        while not stop.is_set():
            await first_of(stop, timeout_s=delay)
            if stop.is_set():
                break
            try:
                if not await self._catalog.renew_lease(self.holder, self._ttl_s):
                    self.held = False
                    raise LeaseLost("another coordinator holds the lease")
                renewed_at, delay = asyncio.get_running_loop().time(), self._ttl_s / 3
            except LeaseLost:
                raise
            except Exception as error:  # Redis hiccup: retry soon, while the lease still runs
                if asyncio.get_running_loop().time() - renewed_at > self._ttl_s * 0.9:
                    self.held = False
                    raise LeaseLost(f"could not renew the lease in time: {error}") from error
                log.warning("renewing the lease failed, retrying: %s", error)
                delay = self._ttl_s / 20
        try:
            await self._catalog.release_lease(self.holder)
        except Exception as error:  # it expires by itself
            log.warning("releasing the lease failed: %s", error)
        self.held = False

