"""A cluster spread over hosts: Redis, NATS (the log), the coordinator, two data nodes, an index
node and the proxy each in a network namespace of its own, joined by veth pairs on a bridge (one
folder stands in for the bucket). Cutting one data node's link must move its channel to the
other data node, which serves it again within seconds from the bucket and the log, while the
rest keeps working and writes keep being acknowledged; when the link comes back the old node
drops its stale copies and nothing is lost or doubled. Needs root."""

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

from quiver.natsserver import find_nats_server, nats_argv, nats_config
from quiver.standalone import Child, find_redis_server, redis_argv, role_argv
from tests.cluster import V1Client

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                       reason="network namespaces need root and iproute2"),
]

DIM = 8
HOSTS = ["redis", "nats", "coordinator", "datanode-1", "datanode-2", "indexnode", "proxy"]
# A collection whose node is cut off is served again within this: the node's heartbeats stop,
# the coordinator marks it down (node TTL) and hands its channel to the other node, which
# restores the flushed segments and replays the log from the checkpoint.
SERVED_AGAIN_S = 25.0


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
        # One folder stands in for the bucket: every host of this test is on one machine.
        objects = ["--object-store", (tmp_path / "objects").as_uri()]
        (tmp_path / "objects").mkdir()
        log_flags = ["--log-servers", f"nats://{network.address('nats')}:4222"]

        def role(name: str, command: str, *flags: str) -> Child:
            host = network.address(name)
            argv = role_argv(command, "--host", host, *common, "--ready-file", str(tmp_path / f"{name}.json"), *flags)
            return Child(name, in_namespace(network, name, argv), tmp_path / f"{name}.log", tmp_path / f"{name}.json")

        children["redis"] = Child("redis", in_namespace(network, "redis", redis_argv(
            find_redis_server(), 6379, redis_dir, bind=network.address("redis"))), tmp_path / "redis.log")
        config = nats_config(tmp_path / "nats" / "nats.conf", host=network.address("nats"), client_port=4222,
                             store_dir=tmp_path / "nats" / "store", server_name="nats")
        children["nats"] = Child("nats", in_namespace(network, "nats", nats_argv(find_nats_server(), config)),
                                 tmp_path / "nats.log")
        children["coordinator"] = role("coordinator", "coordinator", "--port", "19100", "--node-ttl", "1.5",
                                       "--redis-url", f"redis://{network.address('redis')}:6379/0", *objects, *log_flags)
        for node in ("datanode-1", "datanode-2"):
            children[node] = role(node, "datanode", "--port", "19200", "--coordinator", coordinator,
                                  "--data-dir", str(tmp_path / node), "--node-id", node, "--heartbeat", "0.3",
                                  *objects, *log_flags)
        children["indexnode"] = role("indexnode", "indexnode", "--port", "19300", "--coordinator", coordinator,
                                     "--redis-url", f"redis://{network.address('redis')}:6379/0", "--heartbeat", "0.3",
                                     *objects)
        children["proxy"] = role("proxy", "proxy", "--coordinator", coordinator, "--ingestnode", "", *log_flags)
        await children["redis"].start()
        await children["nats"].start()
        await asyncio.sleep(0.5)
        for name in HOSTS[2:]:
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


async def test_a_cut_off_data_node_is_replaced_within_seconds_and_nothing_is_lost(spread: SpreadCluster) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        v1 = V1Client(http, spread.v1_url)
        await wait_serving(v1)
        rng = np.random.default_rng(11)
        # The coordinator hands a new collection's channel to the data node consuming fewer:
        # two collections created one after the other are consumed by different nodes.
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
        growing = rng.standard_normal((40, DIM)).astype(np.float32)
        await v1.insert(cut_name, growing, list(range(301, 341)))  # only in the log so far

        spread.network.cut(lost_node)
        started = time.monotonic()
        more = rng.standard_normal((50, DIM)).astype(np.float32)
        await v1.insert(cut_name, more, list(range(341, 391)))  # the log acknowledges: no data node needed
        while True:  # until the other node serves the cut node's collection
            status, reply = await v1.request(
                "PUT", f"/collections/{cut_name}/vectors",
                {"search": {"topk": 1, "vectors": rows[cut_name][:3].tolist(), "params": {}}})
            if status == 200:
                break
            assert status == 503 and reply["code"] == 2, reply  # meanwhile: a clear, retriable error
            assert time.monotonic() - started < SERVED_AGAIN_S, f"not served again: {reply}"
            await asyncio.sleep(0.3)
        served_after = time.monotonic() - started
        assert [int(hits[0]["id"]) for hits in reply["results"]] == [1, 2, 3]
        hits = await v1.search(kept_name, rows[kept_name][:5], 1)  # the rest kept working
        assert [h[0][0] for h in hits] == [1, 2, 3, 4, 5]
        await v1.insert(kept_name, more, list(range(301, 351)))

        spread.network.restore(lost_node)
        for name, expected in ((cut_name, 390), (kept_name, 350)):
            await v1.flush(name)
            assert (await v1.info(name))["count"] == expected, name
            stored = await v1.get_vectors(name, [1, 150, 300, 340])
            assert stored[150] == pytest.approx(rows[name][149].tolist())
        stored = await v1.get_vectors(cut_name, [320, 360])
        assert stored[320] == pytest.approx(growing[19].tolist()) and stored[360] == pytest.approx(more[19].tolist())
        deadline = time.monotonic() + 30
        while stats[cut_name] in spread.segments_on(lost_node):  # back, it drops its stale copy
            assert time.monotonic() < deadline, "the node that came back kept the moved segment"
            await asyncio.sleep(0.3)
        print(f"the cut-off node's collection was served again after {served_after:.1f}s")
