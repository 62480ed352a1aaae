"""Strong reads through the proxy: each one sees every write acknowledged before it, whether its
freshness was checked by the proxy alongside the read (the common, idle case) or by the data node
before it (after writes). See quiver/freshness.py."""

from __future__ import annotations

import aiohttp
import numpy as np

from tests.cluster import TestCluster, V2Client, create_sharded_collection, metric_sample

DIM = 8
ROUNDS = 30


async def strong_reads(http: aiohttp.ClientSession, cluster: TestCluster) -> dict[str, float]:
    text = await cluster.metrics(http, "proxy")
    return {check: metric_sample(text, "quiver_strong_reads_total", check=check) for check in ("fresh", "stale", "node")}


async def test_a_strong_read_sees_each_write_acknowledged_just_before_it(
    cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v2 = V2Client(http, cluster.http_url, token="root:Milvus")
    await create_sharded_collection(v2, name, DIM, "L2", shards=2, auto_id=False)
    rng = np.random.default_rng(3)
    await v2.ok("entities/get", {"collectionName": name, "id": [0]})  # the proxy learns where the channels stand
    for row_id in range(1, ROUNDS + 1):
        await v2.ok("entities/insert", {"collectionName": name, "data": [{"id": row_id, "vector": rng.random(DIM).tolist()}]})
        found = await v2.ok("entities/get", {"collectionName": name, "id": [row_id]})
        assert [row["id"] for row in found] == [row_id], f"round {row_id}: the acknowledged row is missing"
        hits = await v2.ok("entities/query", {"collectionName": name, "filter": "id >= 0", "outputFields": ["id"], "limit": 100})
        assert len(hits) == row_id, f"round {row_id}: {len(hits)} rows seen"


async def test_idle_strong_reads_are_checked_alongside_the_read_and_a_write_is_still_seen(
    cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v2 = V2Client(http, cluster.http_url, token="root:Milvus")
    await create_sharded_collection(v2, name, DIM, "L2", shards=2, auto_id=False)
    rng = np.random.default_rng(4)
    await v2.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": rng.random(DIM).tolist()}]})
    query = {"collectionName": name, "filter": "id >= 0", "outputFields": ["id"], "limit": 100}
    await v2.ok("entities/query", query)
    await v2.ok("entities/query", query)  # past the writes: the proxy's hints are current

    before = await strong_reads(http, cluster)
    for _ in range(10):
        assert len(await v2.ok("entities/query", query)) == 1
    idle = await strong_reads(http, cluster)
    assert idle["fresh"] - before["fresh"] == 10, (before, idle)
    assert idle["node"] == before["node"] and idle["stale"] == before["stale"], (before, idle)

    # A write the proxy's hint predates: the check finds it, and the read is made again by the node.
    await v2.ok("entities/insert", {"collectionName": name, "data": [{"id": 2, "vector": rng.random(DIM).tolist()}]})
    assert sorted(row["id"] for row in await v2.ok("entities/query", query)) == [1, 2]
    after = await strong_reads(http, cluster)
    assert after["stale"] + after["node"] > idle["stale"] + idle["node"], (idle, after)
