"""Real NATS JetStream servers for tests: one server, or a 3-node cluster, on free loopback ports.

Each node keeps its ports and its store across a kill (SIGKILL) and a restart, as a server under
a supervisor would.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import nats.errors
import nats.js.errors

from quiver.natsserver import find_nats_server, nats_argv, nats_config
from quiver.standalone import LOOPBACK, Child, free_port


class NatsNode:
    def __init__(
        self,
        root: Path,
        name: str,
        *,
        client_port: int | None = None,
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.client_port = client_port or free_port()
        config = nats_config(
            root / name / "nats.conf",
            host=LOOPBACK,
            client_port=self.client_port,
            store_dir=root / name / "store",
            server_name=name,
            cluster_name=cluster_name,
            cluster_port=cluster_port,
            routes=routes,
        )
        self.child = Child(name, nats_argv(find_nats_server(), config), root / "logs" / f"{name}.log")

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.client_port}"

    @property
    def running(self) -> bool:
        process = self.child.process
        return process is not None and process.returncode is None

    async def start(self, timeout_s: float = 15.0) -> None:
        await self.child.start()
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.running:
                raise RuntimeError(f"nats-server {self.name} exited; see {self.child.log_path}")
            try:
                reader, writer = await asyncio.open_connection(LOOPBACK, self.client_port)
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats-server {self.name} did not listen; see {self.child.log_path}") from None
                await asyncio.sleep(0.05)
                continue
            await reader.readline()  # the server's INFO: it serves clients
            writer.close()
            await writer.wait_closed()
            return

    async def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed by the server itself."""
        process = self.child.process
        assert process is not None
        process.kill()
        await process.wait()

    async def stop(self) -> None:
        await self.child.stop()

    def log_tail(self, lines: int = 30) -> str:
        if not self.child.log_path.exists():
            return ""
        return "\n".join(self.child.log_path.read_text(errors="replace").splitlines()[-lines:])


class NatsCluster:
    """`size` JetStream servers routed to each other (a single server when size is 1)."""

    __test__ = False

    def __init__(self, root: Path, size: int = 3, name: str = "quiver") -> None:
        if size == 1:
            self.nodes = [NatsNode(root, "nats-1")]
        else:
            cluster_ports = [free_port() for _ in range(size)]
            routes = tuple(f"nats://{LOOPBACK}:{port}" for port in cluster_ports)
            self.nodes = [
                NatsNode(root, f"nats-{i + 1}", cluster_name=name, cluster_port=port, routes=routes)
                for i, port in enumerate(cluster_ports)
            ]

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(node.url for node in self.nodes)

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    async def start(self, timeout_s: float = 30.0) -> None:
        await asyncio.gather(*(node.start() for node in self.nodes))
        await self.wait_for_jetstream(timeout_s)

    async def wait_for_jetstream(self, timeout_s: float = 30.0) -> None:
        """Until JetStream answers (in a cluster: once its servers elected a meta leader)."""
        client = await nats.connect(list(self.servers), connect_timeout=2)
        try:
            js = client.jetstream(timeout=1)
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    await js.account_info()
                    return
                except (nats.errors.Error, nats.js.errors.Error):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"JetStream did not come up:\n{self.log_tail()}") from None
                    await asyncio.sleep(0.2)
        finally:
            await client.close()

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes))

    def log_tail(self) -> str:
        return "\n".join(f"--- {node.name}\n{node.log_tail()}" for node in self.nodes)
