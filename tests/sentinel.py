"""Redis as production runs it under Sentinel, for tests: one primary, one replica and three
sentinels, as OS processes on free loopback ports (the same redis-server binary the other
tests use; `--sentinel` makes it a sentinel). Sentinel's timings are turned down so that a
failover takes a couple of seconds instead of half a minute."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from quiver.standalone import LOOPBACK, Child, find_redis_server, free_port, redis_argv, wait_for_redis

MASTER = "quiver"
QUORUM = 2  # of the three sentinels: a failover needs two to agree the primary is down


class SentinelRedis:
    __test__ = False

    def __init__(self, root: Path, down_after_ms: int = 1000, failover_timeout_ms: int = 3000) -> None:
        binary = find_redis_server()
        logs = root / "logs"
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        for name in ("primary", "replica"):
            (root / name).mkdir(parents=True, exist_ok=True)
        self.servers = {
            self.primary_port: Child("redis-primary", redis_argv(binary, self.primary_port, root / "primary"),
                                     logs / "redis-primary.log"),
            self.replica_port: Child("redis-replica", [*redis_argv(binary, self.replica_port, root / "replica"),
                                                       "--replicaof", LOOPBACK, str(self.primary_port)],
                                     logs / "redis-replica.log"),
        }
        self.sentinels = []
        for i, port in enumerate(self.sentinel_ports, 1):
            directory = root / f"sentinel-{i}"
            directory.mkdir(parents=True, exist_ok=True)
            conf = directory / "sentinel.conf"  # Sentinel rewrites it with what it learns
            conf.write_text(
                f"port {port}\nbind {LOOPBACK}\ndir {directory}\n"
                f"sentinel monitor {MASTER} {LOOPBACK} {self.primary_port} {QUORUM}\n"
                f"sentinel down-after-milliseconds {MASTER} {down_after_ms}\n"
                f"sentinel failover-timeout {MASTER} {failover_timeout_ms}\n"
            )
            self.sentinels.append(Child(f"sentinel-{i}", [binary, str(conf), "--sentinel"], logs / f"sentinel-{i}.log"))

    @property
    def children(self) -> list[Child]:
        return [*self.servers.values(), *self.sentinels]

    @property
    def flags(self) -> list[str]:
        """What a role takes to reach this Redis through the sentinels."""
        sentinels = ",".join(f"{LOOPBACK}:{port}" for port in self.sentinel_ports)
        return ["--redis-sentinels", sentinels, "--redis-master", MASTER]

    async def start(self, timeout_s: float = 30.0) -> None:
        """Starts everything and waits until the sentinels see the replica and each other: only
        then can they fail over."""
        for child in self.children:
            await child.start()
        for port, child in self.servers.items():
            await wait_for_redis(port, child.log_path)
        deadline = time.monotonic() + timeout_s
        for port in self.sentinel_ports:
            async with Redis(host=LOOPBACK, port=port, decode_responses=True) as sentinel:
                state: dict[str, object] = {}
                while True:
                    try:
                        state = (await sentinel.sentinel_masters()).get(MASTER, {})
                        if state.get("num-slaves") == 1 and state.get("num-other-sentinels") == 2:
                            break
                    except RedisConnectionError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the sentinels did not find the replica and each other: {state}")
                    await asyncio.sleep(0.2)

    async def primary(self) -> int:
        """The port of the primary, as a sentinel names it."""
        async with Redis(host=LOOPBACK, port=self.sentinel_ports[0], decode_responses=True) as sentinel:
            _, port = await sentinel.sentinel_get_master_addr_by_name(MASTER)
            return int(port)

    async def kill_primary(self) -> int:
        """SIGKILL, as when the primary's machine is lost; returns the port it had."""
        port = await self.primary()
        process = self.servers[port].process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        await process.wait()
        return port

    async def wait_for_promotion(self, old_port: int, timeout_s: float = 30.0) -> int:
        """Until the sentinels name another primary, and it answers as one; returns its port."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            port = await self.primary()
            if port != old_port:
                async with Redis(host=LOOPBACK, port=port, decode_responses=True) as server:
                    if (await server.info("replication"))["role"] == "master":
                        return port
            await asyncio.sleep(0.1)
        raise TimeoutError(f"no replica was promoted within {timeout_s:.0f}s")

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop()
