"""Redis survives its machine: the roles reach Redis through Sentinel, and losing the primary
(SIGKILL, as when its machine goes) loses no acknowledged row and no metadata. Requests issued
during the failover wait for the promoted replica instead of failing, and the writes of the
catalogue that must survive a failover wait for the replica to have them (WAIT)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from prometheus_client import REGISTRY

from coordinator.catalog import Catalog
from quiver import redisconn
from quiver.errors import QuiverError
from quiver.redisconn import RedisConfig
from quiver.schema import Channel
from quiver.standalone import LOOPBACK, Child, find_redis_server, free_port, redis_argv, wait_for_redis
from tests.cluster import (
    TestCluster, V1Client, V2Client, create_sharded_collection, metric_sample, running, stored_ids,
)
from tests.reference import float_distances

pytestmark = pytest.mark.timeout(240)

DIM = 16
COLLECTION = "failover"
SEED = 20260517
STALL_LIMIT_S = 30.0  # the longest a kind of request may go unanswered through the failover
UNREPLICATED = "quiver_redis_unreplicated_writes_total"


@dataclass
class Requests:
    """When each request of one kind ended, and whether it succeeded."""

    succeeded: list[float] = field(default_factory=list)
    failed: int = 0
    slowest_s: float = 0.0

    async def timed(self, call: Awaitable[int]) -> bool:
        """Awaits a request that answers an HTTP status."""
        started = time.monotonic()
        try:
            status = await asyncio.wait_for(call, timeout=60)
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        ended = time.monotonic()
        self.slowest_s = max(self.slowest_s, ended - started)
        if status in (200, 201):
            self.succeeded.append(ended)
            return True
        self.failed += 1
        return False

    def longest_gap_s(self, since: float, until: float) -> float:
        """The longest time between `since` and `until` in which no request of this kind succeeded."""
        ends = [since, *sorted(t for t in self.succeeded if since < t < until), until]
        return max(later - earlier for earlier, later in itertools.pairwise(ends))


@dataclass
class Ledger:
    """The rows the clients sent; a failed insert may still have been applied (its reply lost)."""

    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    acknowledged: set[int] = field(default_factory=set)
    next_id: int = 1


async def status_of(v1: V1Client, method: str, path: str, body: object) -> int:
    status, _ = await v1.request(method, path, body)
    return status


async def writer(v1: V1Client, ledger: Ledger, requests: Requests, stop: asyncio.Event, seed: int) -> None:
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        ids = list(range(ledger.next_id, ledger.next_id + 50))
        ledger.next_id += 50
        vectors = rng.standard_normal((50, DIM)).astype(np.float32)
        ledger.vectors.update(zip(ids, vectors))
        body = {"vectors": vectors.tolist(), "ids": [str(i) for i in ids]}
        if await requests.timed(status_of(v1, "POST", f"/collections/{COLLECTION}/vectors", body)):
            ledger.acknowledged.update(ids)
        await asyncio.sleep(0.02)


async def searcher(v1: V1Client, requests: Requests, stop: asyncio.Event, seed: int) -> None:
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        query = rng.standard_normal((1, DIM)).astype(np.float32)
        body = {"search": {"topk": 5, "vectors": query.tolist(), "params": {}}}
        await requests.timed(status_of(v1, "PUT", f"/collections/{COLLECTION}/vectors", body))
        await asyncio.sleep(0.02)


@pytest.fixture
async def sentinel_cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    # One data node: nothing to fail over to but Redis. Its liveness TTL is the coordinator's
    # default: a failover takes less, so the node is never taken for dead meanwhile.
    cluster = TestCluster(tmp_path, data_nodes=1, node_ttl_s=4.0, redis_sentinel=True)
    async with running(cluster, log_lines=60):
        yield cluster


@pytest.mark.faults
async def test_losing_the_redis_primary_loses_nothing_acknowledged(
    sentinel_cluster: TestCluster, http: aiohttp.ClientSession
) -> None:
    cluster = sentinel_cluster
    assert cluster.sentinel is not None
    v1, v2 = V1Client(http, cluster.v1_url), V2Client(http, cluster.http_url)
    await create_sharded_collection(v2, COLLECTION, DIM, "L2", shards=2, auto_id=False)  # a FLAT index
    assert await status_of(v1, "POST", f"/collections/{COLLECTION}/partitions", {"partition_tag": "before"}) == 201
    before = await v2.ok("collections/describe", {"collectionName": COLLECTION})

    ledger, writes, searches = Ledger(), Requests(), Requests()
    stop = asyncio.Event()
    load = [asyncio.create_task(writer(v1, ledger, writes, stop, SEED + i)) for i in range(2)]
    load.append(asyncio.create_task(searcher(v1, searches, stop, SEED - 1)))
    try:
        await asyncio.sleep(1.0)
        await v1.flush(COLLECTION)  # segments and checkpoints recorded: durable writes, replicated
        metrics = await cluster.metrics(http, "coordinator")
        assert metric_sample(metrics, UNREPLICATED) == 0, "the replica acknowledged every durable write"

        killed_at = time.monotonic()
        old_primary = await cluster.sentinel.kill_primary()
        # Catalogue writes issued while there is no primary: they wait for the new one.
        during = Requests()
        flushed = asyncio.create_task(during.timed(status_of(v1, "PUT", "/system/task",
                                                             {"flush": {"collection_names": [COLLECTION]}})))
        partitioned = asyncio.create_task(during.timed(status_of(
            v1, "POST", f"/collections/{COLLECTION}/partitions", {"partition_tag": "during"})))
        await cluster.sentinel.wait_for_promotion(old_primary)
        promoted_s = time.monotonic() - killed_at
        assert await flushed and await partitioned, "catalogue writes issued during the failover failed"
        await asyncio.sleep(3.0)  # the load goes on against the new primary
    finally:
        stop.set()
        await asyncio.gather(*load)
    ended = time.monotonic()

    write_gap, search_gap = writes.longest_gap_s(killed_at, ended), searches.longest_gap_s(killed_at, ended)
    print(f"Redis primary killed: replica promoted after {promoted_s:.1f} s; longest time without a "
          f"successful insert {write_gap:.1f} s, search {search_gap:.1f} s; slowest insert "
          f"{writes.slowest_s:.1f} s, search {searches.slowest_s:.1f} s, catalogue write during the "
          f"failover {during.slowest_s:.1f} s; {writes.failed} inserts and {searches.failed} searches "
          f"failed; {len(ledger.acknowledged)} rows acknowledged")
    assert max(write_gap, search_gap, writes.slowest_s, searches.slowest_s, during.slowest_s) < STALL_LIMIT_S
    assert writes.succeeded and searches.succeeded and writes.succeeded[-1] > killed_at + promoted_s

    # Every acknowledged row is there exactly once; nothing nobody wrote is.
    found = await stored_ids(v2, COLLECTION)
    assert not [i for i, n in found.items() if n > 1], "rows stored twice"
    assert not ledger.acknowledged - set(found), "acknowledged rows lost"
    assert set(found) <= set(ledger.vectors), "rows nobody wrote"
    # Searches return the exact top-k of what is stored (FLAT: brute force).
    stored = np.array(sorted(found), dtype=np.int64)
    base = np.stack([ledger.vectors[i] for i in stored.tolist()])
    queries = np.random.default_rng(SEED).standard_normal((5, DIM)).astype(np.float32)
    expected = stored[np.argsort(float_distances(base, queries, "L2"), axis=1, kind="stable")[:, :10]]
    hits = await v1.search(COLLECTION, queries, 10)
    assert [[i for i, _ in query] for query in hits] == expected.tolist()

    # The collection's metadata is intact, with the partition made during the failover.
    after = await v2.ok("collections/describe", {"collectionName": COLLECTION})
    assert {k: v for k, v in after.items() if k != "partitionsNum"} == {
        k: v for k, v in before.items() if k != "partitionsNum"
    }
    partitions = await v2.ok("partitions/list", {"collectionName": COLLECTION})
    assert sorted(partitions) == ["_default", "before", "during"]
    await v1.flush(COLLECTION)  # the rows' statistics as the segments' records hold them
    deadline = time.monotonic() + 10
    while (count := (await v1.info(COLLECTION))["count"]) != len(found) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert count == len(found)
    # New metadata goes to the new primary, and every role is still up.
    await create_sharded_collection(v2, "after_failover", DIM, "L2", shards=1, auto_id=False)
    assert await v2.ok("collections/has", {"collectionName": "after_failover"}) == {"has": True}
    assert all(child.process is not None and child.process.returncode is None for child in cluster.roles.values())


@pytest.fixture
async def lone_redis(tmp_path: Path) -> AsyncIterator[int]:
    """A Redis server with no replica: WAIT never gets an acknowledgement."""
    port = free_port()
    server = Child("redis", redis_argv(find_redis_server(), port, tmp_path), tmp_path / "redis.log")
    await server.start()
    try:
        await wait_for_redis(port, server.log_path)
        yield port
    finally:
        await server.stop()


async def test_a_durable_write_no_replica_acknowledged_is_logged_and_counted(
    lone_redis: int, caplog: pytest.LogCaptureFixture
) -> None:
    redis = await redisconn.connect(RedisConfig(f"redis://{LOOPBACK}:{lone_redis}/0"))
    try:
        def unreplicated() -> float:
            return REGISTRY.get_sample_value(UNREPLICATED) or 0.0

        # One Redis, no Sentinel: nothing to wait for.
        start = unreplicated()
        await Catalog(redis).allocate_ids(10)
        assert unreplicated() == start

        replicated = Catalog(redis, wait_for_replica=True)
        with caplog.at_level(logging.WARNING, logger="quiver.redisconn"):
            assert await replicated.allocate_ids(10) > 0  # a WATCH transaction: done all the same
            # Now known to have no replica, the catalogue does not wait the timeout again.
            started = time.monotonic()
            await replicated.record_checkpoint(Channel(1, 0, "datanode-1", 5))  # a script
            assert time.monotonic() - started < redisconn.REPLICA_WAIT_MS / 2000
            # A script waits as a transaction does (another catalogue: nothing known of replicas).
            await Catalog(redis, wait_for_replica=True).record_checkpoint(Channel(1, 0, "datanode-1", 5))
        assert unreplicated() == start + 3
        warnings = [record.getMessage() for record in caplog.records if record.name == "quiver.redisconn"]
        assert [w.split(" is on the Redis primary only: no replica acknowledged it")[0] for w in warnings] == [
            "a metadata write (SET)", "a metadata write (EVALSHA)"
        ], warnings
    finally:
        await redisconn.close(redis)


async def test_sentinels_that_name_no_primary_stop_the_start_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redisconn, "STARTUP_WAIT_S", 0.5)
    nobody = [(LOOPBACK, free_port()), (LOOPBACK, free_port())]
    with pytest.raises(QuiverError) as raised:
        await redisconn.connect(RedisConfig("", tuple(nobody), "quiver"))
    message = raised.value.message
    assert message.startswith("no Redis Sentinel names a primary 'quiver'"), message
    assert all(f"{host}:{port} (" in message for host, port in nobody), message


@pytest.mark.parametrize("role", ["coordinator", "indexnode", "ingestnode"])
def test_every_role_that_uses_redis_takes_the_sentinels(role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parse_args = __import__(f"{role}.__main__", fromlist=["parse_args"]).parse_args
    assert parse_args([]).redis == RedisConfig("redis://127.0.0.1:6379/0")
    flags = parse_args(["--redis-sentinels", "s1:26379,s2:26380,s3", "--redis-master", "meta"]).redis
    assert flags == RedisConfig("redis://127.0.0.1:6379/0", (("s1", 26379), ("s2", 26380), ("s3", 26379)), "meta")
    assert flags.sentinel and "s2:26380" in flags.describe()
    monkeypatch.setenv("QUIVER_REDIS_SENTINELS", "s1:26379")
    monkeypatch.setenv("QUIVER_REDIS_MASTER", "meta")
    assert parse_args([]).redis.sentinels == (("s1", 26379),)
    with pytest.raises(SystemExit):
        parse_args(["--redis-sentinels", "s1:port"])
