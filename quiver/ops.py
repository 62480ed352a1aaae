"""The operations endpoints every role serves on its ops port, for probes and Prometheus:

    GET /healthz   200 while the process runs its event loop (liveness)
    GET /readyz    200 when the role can do its work, else 503 with the reason (readiness)
    GET /metrics   Prometheus text format
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from quiver.metrics import EVENT_LOOP_LAG_SECONDS

log = logging.getLogger(__name__)

# How often the event loop's lag is sampled, and the lag worth a warning: work that holds the
# loop this long delays every request and heartbeat of the role.
LAG_PROBE_S = 0.1
LAG_WARNING_S = 0.5

# A role's readiness: (ready, why not). It should answer within a probe's timeout.
Readiness = Callable[[], Awaitable[tuple[bool, str]]]
# Refreshes gauges that are read from the role's state rather than moved as work happens.
Collect = Callable[[], Awaitable[None]]


async def _no_collect() -> None:
    return None


class OpsServer:
    def __init__(self, readiness: Readiness, collect: Collect = _no_collect) -> None:
        self._readiness = readiness
        self._collect = collect
        self._runner: web.AppRunner | None = None
        self._lag_watch: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Serves on host:port (0: any free one); returns the bound port."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self._lag_watch = asyncio.create_task(_watch_event_loop_lag())
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._lag_watch is not None:
            self._lag_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_watch
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, reason = await self._readiness()
        return web.json_response({"ready": ready, "reason": reason}, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._collect()
        response = web.Response(body=generate_latest())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response


async def _watch_event_loop_lag() -> None:
    """Sleeps LAG_PROBE_S at a time and records how much later than asked each wake-up ran."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(LAG_PROBE_S)
        lag = time.monotonic() - asked - LAG_PROBE_S
        EVENT_LOOP_LAG_SECONDS.observe(lag)
        if lag > LAG_WARNING_S:
            log.warning("event loop was held for %.2f s", lag)
