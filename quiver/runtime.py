"""Running a role process: logging, signals, and the ready file that supervisors wait for."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from quiver import logs


def run(role: str, log_level: str, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs `main(stop)` until it returns; SIGINT and SIGTERM set `stop`."""
    logs.configure(role, log_level)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def write_ready_file(path: str, **info: object) -> None:
    """Atomically writes `info` (plus the pid) as JSON, so a reader never sees half a file."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_suffix(target.suffix + ".tmp")
    temp.write_text(json.dumps({"pid": os.getpid(), **info}))
    os.replace(temp, target)


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
