"""A proxy serving from several processes that share its ports (SO_REUSEPORT)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import psutil

from quiver.standalone import LOOPBACK, Child, free_port, role_argv
from tests.cluster import TestCluster

CONNECTIONS = 24


async def test_every_process_of_a_proxy_serves_requests(cluster: TestCluster, tmp_path: Path) -> None:
    http_port = free_port()
    proxy = Child(
        "proxy-processes",
        role_argv("proxy", "--host", LOOPBACK, "--v1-port", str(free_port()), "--http-port", str(http_port),
                  "--coordinator", cluster.coordinator_address, "--processes", "2", *cluster.log_flags,
                  "--ready-file", str(tmp_path / "proxy.json")),
        tmp_path / "proxy.log",
        tmp_path / "proxy.json",
    )
    await proxy.start()
    try:
        ready = await proxy.wait_ready()
        main = psutil.Process(int(ready["pid"]))  # type: ignore[call-overload]
        (worker,) = main.children()
        # Connections held open, each made anew: the kernel spreads them over the processes.
        sessions = [aiohttp.ClientSession() for _ in range(CONNECTIONS)]
        try:
            for session in sessions:
                async with session.post(f"http://{LOOPBACK}:{http_port}/v2/vectordb/collections/list", data=b"{}",
                                        headers={"Authorization": "Bearer root:Milvus"}) as response:
                    assert response.status == 200 and orjson.loads(await response.read())["code"] == 0
            served = {
                process.pid: sum(1 for c in process.net_connections("tcp")
                                 if c.laddr.port == http_port and c.status == psutil.CONN_ESTABLISHED)
                for process in (main, worker)
            }
        finally:
            for session in sessions:
                await session.close()
        assert sum(served.values()) == CONNECTIONS and all(served.values()), served
    finally:
        await proxy.stop()
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE, "the worker stops with the proxy"
