"""A cluster spread over hosts: Redis, the coordinator, two data nodes, an index node and the
proxy each in a network namespace of its own, joined by veth pairs on a bridge. Cutting one
data node's link must fail the requests that need it, quickly and by name, while the rest keep
working; restoring it must bring everything back with nothing lost. Needs root."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from quiver.standalone import Child, find_redis_server, redis_argv, role_argv
from tests.cluster import V1Client

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                       reason="network namespaces need root and iproute2"),
]

DIM = 8
HOSTS = ["redis", "coordinator", "datanode-1", "datanode-2", "indexnode", "proxy"]
# Requests needing a node whose link is cut fail within this: the node's heartbeats stop, the
# coordinator marks it down (node TTL), and gRPC keepalive ends calls already sent to it.
FAIL_WITHIN_S = 20.0


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Network:
    """A bridge in this namespace and one namespace per host, each with an address."""

    tag: str
    subnet: str

    def address(self, host: str) -> str:
        return f"{self.subnet}.{10 + HOSTS.index(host)}"

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{HOSTS.index(host)}"

    def host_end(self, host: str) -> str:
        return f"{self.tag}h{HOSTS.index(host)}"

    def create(self) -> None:
        bridge = f"{self.tag}br"
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{self.subnet}.1/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for host in HOSTS:
            ns, outer, inner = self.namespace(host), self.host_end(host), f"{self.tag}n{HOSTS.index(host)}"
            ip("netns", "add", ns)
            ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            ip("link", "set", inner, "netns", ns)
            ip("link", "set", outer, "master", bridge)
            ip("link", "set", outer, "up")
            ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", inner)
            ip("-n", ns, "link", "set", inner, "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for host in HOSTS:
            subprocess.run(["ip", "netns", "del", self.namespace(host)], capture_output=True)
            subprocess.run(["ip", "link", "del", self.host_end(host)], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{self.tag}br"], capture_output=True)

    def cut(self, host: str) -> None:
        ip("link", "set", self.host_end(host), "down")

    def restore(self, host: str) -> None:
        ip("link", "set", self.host_end(host), "up")


@dataclass
class SpreadCluster:
    network: Network
    root: Path
    children: dict[str, Child]

    @property
    def v1_url(self) -> str:
        return f"http://{self.network.address('proxy')}:19121"

    def segments_on(self, node: str) -> set[str]:
        directory = self.root / node / "segments"
        return {d.name for d in directory.iterdir()} if directory.exists() else set()


def in_namespace(network: Network, host: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", network.namespace(host), *argv]


@pytest.fixture
async def spread(tmp_path: Path) -> AsyncIterator[SpreadCluster]:
    network = Network(f"q{secrets.token_hex(2)}", f"10.{77 + secrets.randbelow(100)}.{secrets.randbelow(250)}")
    network.create()
    children: dict[str, Child] = {}
    try:
        redis_dir = tmp_path / "redis"
        redis_dir.mkdir()
        coordinator = f"{network.address('coordinator')}:19100"
        common = ["--ops-port", "9091", "--log-level", "INFO"]

        def role(name: str, command: str, *flags: str) -> Child:
            host = network.address(name)
            argv = role_argv(command, "--host", host, *common, "--ready-file", str(tmp_path / f"{name}.json"), *flags)
            return Child(name, in_namespace(network, name, argv), tmp_path / f"{name}.log", tmp_path / f"{name}.json")

        children["redis"] = Child("redis", in_namespace(network, "redis", redis_argv(
            find_redis_server(), 6379, redis_dir, bind=network.address("redis"))), tmp_path / "redis.log")
        children["coordinator"] = role("coordinator", "coordinator", "--port", "19100", "--node-ttl", "1.5",
                                       "--redis-url", f"redis://{network.address('redis')}:6379/0")
        for node in ("datanode-1", "datanode-2"):
            children[node] = role(node, "datanode", "--port", "19200", "--coordinator", coordinator,
                                  "--data-dir", str(tmp_path / node), "--node-id", node, "--heartbeat", "0.3")
        children["indexnode"] = role("indexnode", "indexnode", "--port", "19300", "--coordinator", coordinator,
                                     "--redis-url", f"redis://{network.address('redis')}:6379/0", "--heartbeat", "0.3")
        children["proxy"] = role("proxy", "proxy", "--coordinator", coordinator, "--ingestnode", "")
        await children["redis"].start()
        await asyncio.sleep(0.5)
        for name in HOSTS[1:]:
            await children[name].start()
            await children[name].wait_ready()
        yield SpreadCluster(network, tmp_path, children)
    finally:
        for child in reversed(list(children.values())):
            await child.stop()
        network.destroy()


async def wait_serving(v1: V1Client, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (await v1.request("GET", "/state"))[0] == 200:
                return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the spread cluster did not serve")


async def test_a_cut_link_fails_only_what_needs_that_node_and_loses_nothing(spread: SpreadCluster) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        v1 = V1Client(http, spread.v1_url)
        await wait_serving(v1)
        rng = np.random.default_rng(11)
        # The coordinator places a new segment on the data node holding the least data: two
        # collections written one after the other land on different nodes.
        rows: dict[str, np.ndarray] = {}
        for name in ("on_one", "on_two"):
            await v1.create_collection(name, DIM)
            rows[name] = rng.standard_normal((300, DIM)).astype(np.float32)
            await v1.insert(name, rows[name], list(range(1, 301)))
            await v1.flush(name)
        placed = {node: spread.segments_on(node) for node in ("datanode-1", "datanode-2")}
        assert all(placed.values()), f"one collection on each node: {placed}"
        stats = {name: (await v1.stat(name))["partitions"][0]["segments"][0]["name"] for name in rows}
        owner = {name: next(n for n, s in placed.items() if stats[name] in s) for name in rows}
        lost_node = owner["on_two"]
        cut_name, kept_name = "on_two", "on_one"
        assert owner[kept_name] != lost_node

        spread.network.cut(lost_node)
        started = time.monotonic()
        while True:  # until a search needing the cut node fails by name
            status, reply = await v1.request(
                "PUT", f"/collections/{cut_name}/vectors",
                {"search": {"topk": 1, "vectors": rows[cut_name][:1].tolist(), "params": {}}})
            if status != 200:
                break
            assert time.monotonic() - started < FAIL_WITHIN_S, "still answered from a node that is cut off"
        assert time.monotonic() - started < FAIL_WITHIN_S
        assert status == 503 and reply["code"] == 2 and lost_node in reply["message"], reply

        hits = await v1.search(kept_name, rows[kept_name][:5], 1)  # the rest keeps working
        assert [h[0][0] for h in hits] == [1, 2, 3, 4, 5]
        more = rng.standard_normal((50, DIM)).astype(np.float32)
        await v1.insert(kept_name, more, list(range(301, 351)))

        spread.network.restore(lost_node)
        deadline = time.monotonic() + 30
        while True:
            status, reply = await v1.request(
                "PUT", f"/collections/{cut_name}/vectors",
                {"search": {"topk": 1, "vectors": rows[cut_name][:3].tolist(), "params": {}}})
            if status == 200:
                break
            assert time.monotonic() < deadline, f"not served again after the link came back: {reply}"
            await asyncio.sleep(0.3)
        assert [int(hits[0]["id"]) for hits in reply["results"]] == [1, 2, 3]
        for name, expected in ((cut_name, 300), (kept_name, 350)):
            await v1.flush(name)
            assert (await v1.info(name))["count"] == expected, name
            stored = await v1.get_vectors(name, [1, 150, 300])
            assert stored[150] == pytest.approx(rows[name][149].tolist())
