"""A real Quiver cluster for tests: Redis, NATS JetStream (the log), an S3 server (SeaweedFS)
and every role as OS processes on free loopback ports.

Ports are chosen once, so a role that is killed and restarted comes back at the same address,
as it would under a supervisor or in Kubernetes.
"""

from __future__ import annotations

import asyncio
import io
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
from prometheus_client.parser import text_string_to_metric_families

from quiver.objectstore import ObjectStoreConfig
from quiver.standalone import (
    LOOPBACK,
    Child,
    find_redis_server,
    free_port,
    redis_argv,
    role_argv,
    wait_for_redis,
)
from tests.nats import NatsCluster
from tests.seaweedfs import SeaweedFS
from tests.sentinel import SentinelRedis


class TestCluster:
    __test__ = False  # not a test class for pytest

    def __init__(
        self,
        root: Path,
        data_nodes: int = 2,
        index_nodes: int = 1,
        heartbeat_s: float = 0.3,
        node_ttl_s: float = 1.5,
        claim_timeout_s: float = 3.0,
        index_min_rows: int = 4096,
        auto_compact_s: float = 0.0,  # off: the tests that share a cluster expect their segments to stay
        gc_grace_s: float = 5.0,
        gc_orphan_sweep_s: float = 3600.0,
        log_nodes: int = 1,  # 3: a JetStream cluster, the stream replicated on all three
        redis_sentinel: bool = False,  # Redis as a primary, a replica and three sentinels (tests/sentinel.py)
    ) -> None:
        self.root = root
        self.object_store = SeaweedFS(root / "seaweedfs")
        objects = object_store_flags(self.object_store.config("quiver"))
        self.log = NatsCluster(root / "nats", size=log_nodes)
        log_flags = ["--log-servers", ",".join(self.log.servers), "--log-replicas", str(min(log_nodes, 3))]
        self.log_flags = log_flags[:2]  # what another proxy or coordinator of this cluster takes
        self.redis_port = free_port()
        self.coordinator_address = f"{LOOPBACK}:{free_port()}"
        self.v1_port, self.http_port = free_port(), free_port()
        logs, run = root / "logs", root / "run"
        (root / "redis").mkdir(parents=True, exist_ok=True)
        common = ["--log-level", "INFO"]
        self.redis = Child("redis", redis_argv(find_redis_server(), self.redis_port, root / "redis"), logs / "redis.log")
        self.sentinel = SentinelRedis(root / "sentinel") if redis_sentinel else None
        redis_flags = self.sentinel.flags if self.sentinel else ["--redis-url", f"redis://{LOOPBACK}:{self.redis_port}/0"]
        self.coordinator = Child(
            "coordinator",
            role_argv("coordinator", "--port", self.coordinator_address.rsplit(":", 1)[1], *redis_flags,
                      "--node-ttl", str(node_ttl_s), "--index-min-rows", str(index_min_rows),
                      "--auto-compact-interval", str(auto_compact_s), "--gc-grace", str(gc_grace_s),
                      "--gc-orphan-sweep", str(gc_orphan_sweep_s),
                      "--ready-file", str(run / "coordinator.json"), *objects, *log_flags, *common),
            logs / "coordinator.log",
            run / "coordinator.json",
        )
        self.data_nodes = [
            Child(
                f"datanode-{i}",
                role_argv("datanode", "--port", str(free_port()), "--coordinator", self.coordinator_address,
                          "--data-dir", str(root / f"datanode-{i}"), "--node-id", f"datanode-{i}",
                          "--heartbeat", str(heartbeat_s), "--ready-file", str(run / f"datanode-{i}.json"),
                          *objects, *log_flags, *common),
                logs / f"datanode-{i}.log",
                run / f"datanode-{i}.json",
            )
            for i in range(1, data_nodes + 1)
        ]
        self.index_nodes = [
            Child(
                f"indexnode-{i}",
                role_argv("indexnode", "--port", "0", "--coordinator", self.coordinator_address, *redis_flags,
                          "--node-id", f"indexnode-{i}", "--heartbeat", str(heartbeat_s),
                          "--claim-timeout", str(claim_timeout_s),
                          "--ready-file", str(run / f"indexnode-{i}.json"), *objects, *common),
                logs / f"indexnode-{i}.log",
                run / f"indexnode-{i}.json",
            )
            for i in range(1, index_nodes + 1)
        ]
        # Managed indexes: imports read below import_root; scheduled syncs come quickly (a daily
        # index syncs every few seconds here).
        self.import_root = root / "import"
        self.import_root.mkdir(parents=True, exist_ok=True)
        self.ingest_node_address = f"{LOOPBACK}:{free_port()}"
        self.ingest_node = Child(
            "ingestnode",
            role_argv("ingestnode", "--port", self.ingest_node_address.rsplit(":", 1)[1],
                      "--coordinator", self.coordinator_address,
                      *redis_flags, "--node-id", "ingestnode-1",
                      "--data-dir", str(root / "ingest"), "--import-root", str(self.import_root),
                      "--claim-timeout", str(claim_timeout_s), "--lease-ttl", str(claim_timeout_s),
                      "--log-servers", ",".join(self.log.servers),
                      "--source-change-delay", "0.5", "--schedule-poll", "0.2", "--daily-period", "4",
                      "--ready-file", str(run / "ingestnode.json"), *common),
            logs / "ingestnode.log",
            run / "ingestnode.json",
        )
        self.proxy = Child(
            "proxy",
            role_argv("proxy", "--host", LOOPBACK, "--v1-port", str(self.v1_port), "--http-port",
                      str(self.http_port), "--coordinator", self.coordinator_address,
                      "--ingestnode", self.ingest_node_address, "--log-servers", ",".join(self.log.servers),
                      "--ready-file", str(run / "proxy.json"), *common),
            logs / "proxy.log",
            run / "proxy.json",
        )
        self.roles = {
            c.name: c for c in [self.coordinator, *self.data_nodes, *self.index_nodes, self.ingest_node, self.proxy]
        }

    @property
    def v1_url(self) -> str:
        return f"http://{LOOPBACK}:{self.v1_port}"

    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    async def start(self) -> None:
        # Redis first: its port was picked when the cluster was made, and the other servers'
        # start-up connections take ephemeral ports that could land on it meanwhile.
        if self.sentinel is not None:
            await self.sentinel.start()
        else:
            await self.redis.start()
        await asyncio.gather(self.object_store.start(), self.log.start())
        if self.sentinel is None:
            await wait_for_redis(self.redis_port, self.redis.log_path)
        for child in self.roles.values():
            await child.start()
            await child.wait_ready()
        await self.wait_until_serving()

    async def wait_until_serving(self, timeout_s: float = 30.0) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(int(timeout_s / 0.1)):
                try:
                    async with http.get(self.v1_url + "/state") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("the cluster did not start serving")

    def ops_url(self, name: str) -> str:
        """The base URL of a running role's /healthz, /readyz and /metrics."""
        child = self.roles[name]
        assert child.ready_file is not None
        return f"http://{LOOPBACK}:{orjson.loads(child.ready_file.read_bytes())['ops_port']}"

    async def metrics(self, http: aiohttp.ClientSession, name: str) -> str:
        """A running role's /metrics, as Prometheus text."""
        async with http.get(self.ops_url(name) + "/metrics") as response:
            assert response.status == 200
            return await response.text()

    async def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or a power cut."""
        if name.startswith("nats-"):
            await self.log.node(name).kill()
            return
        child = self.redis if name == "redis" else self.roles[name]
        assert child.process is not None
        child.process.send_signal(signal.SIGKILL)
        await child.process.wait()

    async def restart(self, name: str) -> None:
        """Starts a killed role (or Redis, from its append-only file) again at its address."""
        if name == "redis":
            await self.redis.start()
            await wait_for_redis(self.redis_port, self.redis.log_path)
            return
        if name.startswith("nats-"):
            await self.log.node(name).start()
            return
        child = self.roles[name]
        await child.start()
        await child.wait_ready()

    async def stop(self) -> None:
        for child in reversed([self.redis, *self.roles.values()]):
            await child.stop()
        if self.sentinel is not None:
            await self.sentinel.stop()
        await asyncio.gather(self.object_store.stop(), self.log.stop())

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for child in [self.redis, *(self.sentinel.children if self.sentinel else []), *self.roles.values()]:
            if child.log_path.exists():
                tail = child.log_path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"== {child.name}\n" + "\n".join(tail))
        return "\n".join(out)


@asynccontextmanager
async def running(cluster: TestCluster, log_lines: int = 40) -> AsyncIterator[TestCluster]:
    """Starts a cluster of a test's own and stops it after; prints its logs' tails if the
    start or the test fails."""
    try:
        await cluster.start()
        yield cluster
    except BaseException:
        print(cluster.log_tail(log_lines))
        raise
    finally:
        await cluster.stop()


def object_store_flags(cfg: ObjectStoreConfig) -> list[str]:
    return [
        "--object-store", cfg.url, "--s3-endpoint", cfg.endpoint, "--s3-region", cfg.region,
        "--s3-access-key", cfg.access_key, "--s3-secret-key", cfg.secret_key,
    ]


def metric_sample(metrics_text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(
        found.value
        for family in text_string_to_metric_families(metrics_text)
        for found in family.samples
        if found.name == name and labels.items() <= found.labels.items()
    )


class V1Client:
    """A Milvus 0.x REST client, as a user's script would talk to the proxy."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base = base_url

    async def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        """`body` is sent as JSON, or as it is when it is bytes (or `raw`)."""
        if isinstance(body, bytes):
            raw = body
        data = raw if raw is not None else (None if body is None else orjson.dumps(body))
        payload = None if data is None else io.BytesIO(data)  # large bodies stream, not block
        headers = {"Content-Type": "application/json"}
        async with self.http.request(method, self.base + path, data=payload, headers=headers) as response:
            text = await response.text()
            try:
                payload = await response.json(content_type=None) if text else None
            except ValueError:
                payload = text
            return response.status, payload

    async def create_collection(self, name: str, dim: int, metric: str = "L2", index_file_size: int = 1024) -> None:
        status, body = await self.request(
            "POST", "/collections",
            {"collection_name": name, "dimension": dim, "metric_type": metric, "index_file_size": index_file_size},
        )
        assert status == 201, body

    async def insert(self, name: str, vectors: np.ndarray, ids: list[int] | None = None) -> list[int]:
        body: dict[str, Any] = {"vectors": vectors.tolist()}
        if ids is not None:
            body["ids"] = [str(i) for i in ids]
        status, reply = await self.request("POST", f"/collections/{name}/vectors", body)
        assert status == 201, reply
        return [int(i) for i in reply["ids"]]

    async def search(self, name: str, queries: np.ndarray, topk: int, **extra: Any) -> list[list[tuple[int, float]]]:
        status, reply = await self.request(
            "PUT", f"/collections/{name}/vectors",
            {"search": {"topk": topk, "vectors": queries.tolist(), "params": {}, **extra}},
        )
        assert status == 200, reply
        assert reply["results"] == reply["result"]
        return [[(int(hit["id"]), float(hit["distance"])) for hit in hits] for hits in reply["results"]]

    async def flush(self, *names: str) -> None:
        status, reply = await self.request("PUT", "/system/task", {"flush": {"collection_names": list(names)}})
        assert status == 200, reply

    async def get_vectors(self, name: str, ids: list[int]) -> dict[int, list[float]]:
        status, reply = await self.request("GET", f"/collections/{name}/vectors?ids=" + ",".join(map(str, ids)))
        assert status == 200, reply
        return {int(v["id"]): v["vector"] for v in reply["vectors"]}

    async def info(self, name: str) -> dict[str, Any]:
        status, reply = await self.request("GET", f"/collections/{name}")
        assert status == 200, reply
        return reply

    async def stat(self, name: str) -> dict[str, Any]:
        status, reply = await self.request("GET", f"/collections/{name}?info=stat")
        assert status == 200, reply
        return reply



class V2Client:
    """A Milvus 2.x REST v2 client, as curl scripts and SDKs talk to the proxy."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str | None = "root:Milvus") -> None:
        self.http = http
        self.base = base_url + "/v2/vectordb"
        self.token = token

    async def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data = body if isinstance(body, bytes) else orjson.dumps(body if body is not None else {})
        async with self.http.post(f"{self.base}/{path}", data=io.BytesIO(data), headers=sent) as response:
            return response.status, await response.json(content_type=None)

    async def ok(self, path: str, body: Any = None, **headers: str) -> Any:
        """The `data` of a successful call (code 0)."""
        status, reply = await self.post(path, body, headers or None)
        assert (status, reply.get("code")) == (200, 0), reply
        return reply["data"]

    async def fails(self, path: str, body: Any, code: int, status: int = 200) -> str:
        got_status, reply = await self.post(path, body)
        assert (got_status, reply.get("code")) == (status, code), reply
        assert reply["message"]
        return reply["message"]


async def stored_ids(v2: V2Client, collection: str) -> Counter[int]:
    """Every row's id as stored, counted (a row stored twice counts 2)."""
    found: Counter[int] = Counter()
    low = 0
    while True:
        rows = await v2.ok("entities/query", {"collectionName": collection, "filter": f"id > {low}",
                                              "outputFields": ["id"], "limit": 16384})
        if not rows:
            return found
        ids = sorted(int(r["id"]) for r in rows)
        found.update(ids)
        low = ids[-1]


async def create_sharded_collection(
    v2: V2Client, name: str, dim: int, metric: str, shards: int, binary: bool = False, auto_id: bool = True
) -> None:
    """A collection whose rows spread over `shards` channels (0.x has no way to ask for them),
    usable through 0.x as well: an Int64 key (auto or given) and a vector field."""
    await v2.ok("collections/create", {
        "collectionName": name,
        "metricType": metric,
        "params": {"shardsNum": shards, "consistencyLevel": "Strong"},
        "schema": {"autoID": auto_id, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vector", "dataType": "BinaryVector" if binary else "FloatVector", "elementTypeParams": {"dim": dim}},
        ]},
        "indexParams": [{"fieldName": "vector", "metricType": metric, "indexType": "BIN_FLAT" if binary else "FLAT"}],
    })
