"""Running a role process: logging, signals, the ops endpoints, and the ready file that
supervisors wait for."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import uvloop

from quiver import logs
from quiver.config import ProcessConfig
from quiver.errors import QuiverError
from quiver.ops import Collect, OpsServer, Readiness
from quiver.ports import naming_a_taken_port


FREE_MEMORY_INTERVAL_S = 30.0  # how often a role hands its free heap pages back
# Set for every role process by whatever starts it (the supervisor, the container image): glibc
# reads it only as a process starts. Every thread that allocates (gRPC's, the search and build
# pools, faiss' OpenMP workers) otherwise gets a heap of its own, up to 8 per core, and each keeps
# what its bursts fragmented, out of malloc_trim's reach: an index node measured 62 -> 187 MB at
# rest over six 200k-row builds, and levels off near 100 MB with two (bench/build_memory.py).
ALLOCATOR_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


def run(role: str, process: ProcessConfig, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs `main(stop)` on uvloop until it returns; SIGINT and SIGTERM set `stop`. uvloop
    (libuv) runs a loop iteration in a fraction of asyncio's Python selector loop, which a
    serial request pays several times over (HTTP, gRPC, the log's client) in every role."""
    logs.configure(role, process.log_level, process.log_format)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        trimming = asyncio.create_task(return_free_memory_periodically(stop, FREE_MEMORY_INTERVAL_S))
        try:
            await main(stop)
        finally:
            stop.set()
            await trimming

    try:
        uvloop.run(runner())
    except QuiverError as error:  # what it needs is unreachable (the log, the bucket), its port taken: one clear line
        # marked `fatal`: the line a supervisor relays as the reason the role stopped
        logging.getLogger(role).error("%s stopped: %s", role, error.message, extra={"fatal": True})
        sys.exit(1)
    finally:
        remove_ready_file(process.ready_file)


async def first_of(*events: asyncio.Event, timeout_s: float) -> None:
    """Waits until one of the events is set (a role's stop, most often), or the time is up."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return trim  # None off glibc (musl, macOS): nothing to do there


def return_free_memory() -> None:
    """Hands the heap's free pages back to the system. glibc keeps what large, short-lived work
    (an index build, a compaction, a replaced index) freed, so a long-running role's resident
    memory would stay at its peak. Takes milliseconds: call it off the event loop."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


async def return_free_memory_periodically(stop: asyncio.Event, interval_s: float) -> None:
    """Returns free heap pages every `interval_s` until `stop`. Besides the large frees a role
    knows of (after which it calls return_free_memory itself), ordinary traffic frees memory in
    every thread's heap (request buffers, search results, gRPC messages, a sealed segment's
    copies) that glibc would otherwise keep resident: up to 75 MB on a data node in the soak."""
    while not stop.is_set():
        await first_of(stop, timeout_s=interval_s)
        if not stop.is_set():
            await asyncio.to_thread(return_free_memory)


def write_ready_file(path: str, **info: object) -> None:
    """Atomically writes `info` (plus the pid) as JSON, so a reader never sees half a file."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_suffix(target.suffix + ".tmp")
    temp.write_text(json.dumps({"pid": os.getpid(), **info}))
    os.replace(temp, target)


def remove_ready_file(path: str) -> None:
    """Removes the ready file this process wrote, as it stops: a file that stays says the role
    did not stop cleanly (SIGKILL, a power cut); the next start overwrites it. One written by
    another process since (a role started again on the same path) stays."""
    if not path:
        return
    try:
        if json.loads(Path(path).read_text()).get("pid") == os.getpid():
            Path(path).unlink()
    except (FileNotFoundError, ValueError):
        pass


def advertised(host: str, advertise_host: str, port: int) -> str:
    """The host:port other roles should dial: --advertise-host, else the bound host, else (bound
    to every interface) this machine's address as its hostname resolves, as in a container."""
    host = advertise_host or host
    if host in ("0.0.0.0", "::", ""):
        try:
            host = socket.gethostbyname(socket.gethostname())
        except OSError:
            host = "127.0.0.1"
    return f"{host}:{port}"


@asynccontextmanager
async def ops_endpoints(
    host: str, process: ProcessConfig, stop: asyncio.Event, readiness: Readiness, collect: Collect | None = None
) -> AsyncIterator[int]:
    """Serves /healthz, /readyz and /metrics while the block runs; yields the bound port. Once
    `stop` is set the role reports not ready, so load balancers stop sending it work."""

    async def ready() -> tuple[bool, str]:
        return (False, "stopping") if stop.is_set() else await readiness()

    server = OpsServer(ready, collect) if collect else OpsServer(ready)
    with naming_a_taken_port(process.ops_port, host, "/healthz, /readyz and /metrics", "--ops-port"):
        port = await server.start(host, process.ops_port)
    try:
        yield port
    finally:
        await server.stop()
