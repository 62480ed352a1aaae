"""Sealed data lives in the object store (a real S3 server, SeaweedFS): a flushed segment and
its index are in the bucket before anything counts them as flushed or built, a data node whose
disk lost them restores them from there, an outage of the store delays uploads without losing
or refusing a write, and the files of dropped data are deleted from the bucket."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from quiver import bucket
from quiver.objectstore import ObjectStore
from quiver.standalone import role_argv
from tests.cluster import TestCluster, V1Client, V2Client, create_sharded_collection, metric_sample, running
from tests.test_durability import Ledger, assert_all_present, retry_until_ok

DIM = 8
OUTAGE_S = 30.0  # the object store is away this long


@pytest.fixture
async def storage_cluster(tmp_path: Path) -> AsyncIterator[TestCluster]:
    async with running(
        TestCluster(tmp_path, data_nodes=1, index_min_rows=500, gc_grace_s=0.5, gc_orphan_sweep_s=1.0)
    ) as cluster:
        yield cluster


def objects_of(cluster: TestCluster) -> ObjectStore:
    return ObjectStore.open(cluster.object_store.config("quiver"))


async def keys_under(store: ObjectStore, prefix: str) -> set[str]:
    return {found.key for found in await store.list(prefix)}


async def collection_id(cluster: TestCluster, name: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            cluster.http_url + "/v2/vectordb/collections/describe",
            json={"collectionName": name},
            headers={"Authorization": "Bearer root:Milvus"},
        ) as response:
            return int((await response.json())["data"]["collectionID"])


async def test_a_data_node_that_lost_its_segments_restores_them_and_their_index_from_the_bucket(
    storage_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v1 = V1Client(http, storage_cluster.v1_url)
    await v1.create_collection(name, DIM, "L2", index_file_size=1)
    vectors = np.random.default_rng(11).standard_normal((3000, DIM)).astype(np.float32)
    ids = await v1.insert(name, vectors)
    await v1.flush(name)
    status, reply = await v1.request("POST", f"/collections/{name}/indexes", {"index_type": "IVFFLAT", "params": {"nlist": 16}})
    assert status == 201, reply
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    assert [s["index_name"] for s in segments] == ["IVFFLAT"], "built before the disk is lost"

    store = objects_of(storage_cluster)
    owner = await collection_id(storage_cluster, name)
    [segment] = [int(s["name"]) for s in segments]
    held = await keys_under(store, bucket.segment_prefix(owner, segment))
    assert {k.rsplit("/", 1)[1] for k in held} == {"meta.json", "data.arrow", "deletes.bin"}

    node = storage_cluster.data_nodes[0]
    await storage_cluster.kill(node.name)
    shutil.rmtree(storage_cluster.root / node.name / "segments")  # the disk's sealed data is gone
    await storage_cluster.restart(node.name)

    async def all_found() -> None:  # every row, by id and by an exact search (nprobe = nlist)
        stored = await v1.get_vectors(name, ids[::7])
        for i, row in zip(ids[::7], vectors[::7]):
            np.testing.assert_array_equal(np.array(stored[i], dtype=np.float32), row)
        hits = await v1.search(name, vectors[::97], 1, params={"nprobe": 16})
        assert [h[0][0] for h in hits] == ids[::97]

    await retry_until_ok(all_found)
    restored = (await v1.stat(name))["partitions"][0]["segments"]
    assert [(s["name"], s["index_name"], s["row_count"]) for s in restored] == [(str(segment), "IVFFLAT", 3000)]
    assert "restored from the object store" in node.log_path.read_text()


async def test_an_object_store_outage_delays_uploads_and_loses_nothing(
    storage_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v1 = V1Client(http, storage_cluster.v1_url)
    await v1.create_collection(name, DIM, "L2")
    rng = np.random.default_rng(12)
    ledger = Ledger()
    await storage_cluster.object_store.kill()
    try:
        batch = rng.standard_normal((200, DIM)).astype(np.float32)
        ledger.vectors.update(zip(await v1.insert(name, batch), batch))
        status, reply = await v1.request("PUT", "/system/task", {"flush": {"collection_names": [name]}})
        assert status != 200, "a flush cannot finish while the bucket is away"
        assert "object store" in str(reply) or "unavailable" in str(reply).lower(), reply
        outage_ends = asyncio.get_running_loop().time() + OUTAGE_S
        while asyncio.get_running_loop().time() < outage_ends:  # writes go on being acknowledged
            batch = rng.standard_normal((200, DIM)).astype(np.float32)
            ledger.vectors.update(zip(await v1.insert(name, batch), batch))
            await asyncio.sleep(1.0)
        await assert_all_present(v1, name, ledger)  # served from the node's memory and the log
    finally:
        await storage_cluster.object_store.restart()

    await retry_until_ok(lambda: v1.flush(name), timeout_s=60)
    await assert_all_present(v1, name, ledger)
    assert (await v1.info(name))["count"] == len(ledger.vectors)
    node = storage_cluster.data_nodes[0]
    failures = metric_sample(await storage_cluster.metrics(http, node.name), "quiver_object_store_requests_total", outcome="unavailable")
    assert failures > 0, "the failed uploads are counted"
    assert "is not persisted yet, the log keeps it" in node.log_path.read_text()


async def test_dropped_segments_and_indexes_are_deleted_from_the_bucket(
    storage_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    v1 = V1Client(http, storage_cluster.v1_url)
    await v1.create_collection(name, DIM, "L2")
    await v1.insert(name, np.random.default_rng(13).standard_normal((1000, DIM)).astype(np.float32))
    await v1.flush(name)
    owner = await collection_id(storage_cluster, name)
    status, _ = await v1.request("POST", f"/collections/{name}/indexes", {"index_type": "FLAT", "params": {}})
    assert status == 201
    store = objects_of(storage_cluster)
    assert await keys_under(store, f"segments/{owner}/")

    status, _ = await v1.request("DELETE", f"/collections/{name}")
    assert status == 204

    async def emptied() -> None:
        assert not await keys_under(store, f"segments/{owner}/")
        assert not await keys_under(store, f"indexes/{owner}/")

    await retry_until_ok(emptied, timeout_s=30)


async def test_files_the_catalogue_never_recorded_are_swept_from_the_bucket(
    storage_cluster: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    """A fenced data node's late upload, say: files of a segment id the catalogue does not know
    go after the grace period; the files of recorded segments stay."""
    v1 = V1Client(http, storage_cluster.v1_url)
    await v1.create_collection(name, DIM, "L2")
    await v1.insert(name, np.random.default_rng(14).standard_normal((1000, DIM)).astype(np.float32))
    await v1.flush(name)
    owner = await collection_id(storage_cluster, name)
    store = objects_of(storage_cluster)
    recorded = await keys_under(store, f"segments/{owner}/")
    assert recorded
    unknown_segment = 1  # ids are allocated from large numbers: no segment has this one
    orphans = [bucket.segment_rows(owner, unknown_segment), bucket.index_file(owner, unknown_segment, 7)]
    for key in orphans:
        await store.put(key, b"late upload")

    async def swept() -> None:
        assert not await keys_under(store, bucket.segment_prefix(owner, unknown_segment))
        assert not await keys_under(store, bucket.index_prefix(owner, unknown_segment))

    await retry_until_ok(swept, timeout_s=30)
    assert await keys_under(store, f"segments/{owner}/") == recorded
    assert len((await v1.search(name, np.zeros((1, DIM), np.float32), 5))[0]) == 5  # the data still answers


async def test_an_unreachable_bucket_at_start_up_is_named(tmp_path: Path) -> None:
    from quiver.standalone import LOOPBACK, Child, free_port

    endpoint = f"http://{LOOPBACK}:{free_port()}"  # nothing listens there
    child = Child(
        "datanode",
        role_argv("datanode", "--port", "0", "--data-dir", str(tmp_path / "data"), "--coordinator", f"{LOOPBACK}:1",
                  "--object-store", "s3://quiver", "--s3-endpoint", endpoint,
                  "--s3-access-key", "key", "--s3-secret-key", "secret"),
        tmp_path / "datanode.log",
    )
    await child.start()
    assert child.process is not None
    code = await asyncio.wait_for(child.process.wait(), timeout=60)
    assert code != 0
    assert endpoint in (tmp_path / "datanode.log").read_text()


async def test_a_whole_cluster_restarted_with_every_data_node_disk_wiped_serves_the_same(
    tmp_path: Path, http: aiohttp.ClientSession, name: str
) -> None:
    async with running(TestCluster(tmp_path, data_nodes=2, index_min_rows=500)) as cluster:
        v1 = V1Client(http, cluster.v1_url)
        await create_sharded_collection(V2Client(http, cluster.http_url), name, DIM, "L2", shards=2, auto_id=False)
        vectors = np.random.default_rng(14).standard_normal((3000, DIM)).astype(np.float32)
        ids = list(range(1, 3001))
        await v1.insert(name, vectors[:2000], ids[:2000])
        await v1.flush(name)  # in the bucket
        await v1.insert(name, vectors[2000:], ids[2000:])  # only in the log
        await v1.request("PUT", f"/collections/{name}/vectors", {"delete": {"ids": [str(i) for i in range(1, 3001, 10)]}})
        queries = vectors[::300]
        before = await v1.search(name, queries, 10)
        await cluster.stop()
        for node in cluster.data_nodes:
            shutil.rmtree(cluster.root / node.name)
        await cluster.start()
        await retry_until_ok(lambda: _same(v1, name, queries, before), timeout_s=30)
        assert (await v1.info(name))["count"] == 3000 - 300


async def test_a_lost_data_node_s_channel_moves_to_a_live_one_and_the_metrics_say_so(
    tmp_path: Path, http: aiohttp.ClientSession, name: str
) -> None:
    async with running(TestCluster(tmp_path, data_nodes=2, index_min_rows=500)) as cluster:
        v1 = V1Client(http, cluster.v1_url)
        await create_sharded_collection(V2Client(http, cluster.http_url), name, DIM, "L2", shards=2, auto_id=False)
        vectors = np.random.default_rng(15).standard_normal((1500, DIM)).astype(np.float32)
        ids = list(range(1, 1501))
        await v1.insert(name, vectors[:1000], ids[:1000])
        await v1.flush(name)  # in the bucket
        await v1.insert(name, vectors[1000:], ids[1000:])  # only in the log
        moved_before = metric_sample(
            await cluster.metrics(http, "coordinator"), "quiver_channel_moves_total", reason="failover"
        )

        await cluster.kill("datanode-1")  # the machine is lost with its disk, and stays lost
        shutil.rmtree(cluster.root / "datanode-1")

        async def served_by_the_survivor() -> None:
            coordinator = await cluster.metrics(http, "coordinator")
            assert metric_sample(coordinator, "quiver_channels_unserved") == 0
            assert metric_sample(coordinator, "quiver_channel_moves_total", reason="failover") == moved_before + 1
            assert metric_sample(coordinator, "quiver_last_channel_move_timestamp_seconds") > time.time() - 60
            hits = await v1.search(name, vectors[::100], 1)
            assert [h[0][0] for h in hits] == ids[::100]

        await retry_until_ok(served_by_the_survivor, timeout_s=30)
        stored = {**await v1.get_vectors(name, ids[:1000]), **await v1.get_vectors(name, ids[1000:])}
        assert [i for i in ids if not stored[i]] == []

        async def counted() -> None:  # row counts come with the nodes' heartbeats
            assert (await v1.info(name))["count"] == 1500

        await retry_until_ok(counted, timeout_s=10)


async def test_a_data_node_that_joins_takes_over_channels_without_a_failed_read(
    tmp_path: Path, http: aiohttp.ClientSession, name: str
) -> None:
    async with running(TestCluster(tmp_path, data_nodes=2, index_min_rows=500)) as cluster:
        await cluster.kill("datanode-2")  # not there yet: every channel goes to datanode-1

        async def one_live_data_node() -> None:
            coordinator = await cluster.metrics(http, "coordinator")
            assert metric_sample(coordinator, "quiver_nodes", role="data", alive="true") == 1

        await retry_until_ok(one_live_data_node, timeout_s=15)
        v1 = V1Client(http, cluster.v1_url)
        await create_sharded_collection(V2Client(http, cluster.http_url), name, DIM, "L2", shards=4, auto_id=False)
        vectors = np.random.default_rng(16).standard_normal((2500, DIM)).astype(np.float32)
        ids = list(range(1, 2501))
        await v1.insert(name, vectors[:2000], ids[:2000])
        await v1.flush(name)  # in the bucket
        await v1.insert(name, vectors[2000:], ids[2000:])  # only in the log

        async with SteadyReads(v1, name, vectors, ids) as reads:
            await cluster.restart("datanode-2")  # joins

            async def balanced() -> None:
                coordinator = await cluster.metrics(http, "coordinator")
                assert metric_sample(coordinator, "quiver_channel_moves_total", reason="rebalance") == 2
                assert metric_sample(coordinator, "quiver_channels_unserved") == 0
                joined = await cluster.metrics(http, "datanode-2")
                assert metric_sample(joined, "quiver_rows_stored") > 0

            await retry_until_ok(balanced, timeout_s=60)
            await asyncio.sleep(2)  # reads on the new layout, the old owner having dropped its copies
        reads.assert_none_failed("two channels moved")
        stored = {**await v1.get_vectors(name, ids[:1000]), **await v1.get_vectors(name, ids[1000:2000]),
                  **await v1.get_vectors(name, ids[2000:])}
        assert [i for i in ids if not stored[i]] == []


async def _same(v1: V1Client, name: str, queries: np.ndarray, expected: list[list[tuple[int, float]]]) -> None:
    assert await v1.search(name, queries, 10) == expected


async def test_a_drained_data_node_hands_its_channels_over_without_a_failed_read(
    tmp_path: Path, http: aiohttp.ClientSession, name: str
) -> None:
    async with running(TestCluster(tmp_path, data_nodes=2, index_min_rows=500)) as cluster:
        v1 = V1Client(http, cluster.v1_url)
        await create_sharded_collection(V2Client(http, cluster.http_url), name, DIM, "L2", shards=2, auto_id=False)
        vectors = np.random.default_rng(18).standard_normal((1200, DIM)).astype(np.float32)
        ids = list(range(1, 1201))
        await v1.insert(name, vectors[:1000], ids[:1000])
        await v1.flush(name)  # in the bucket
        await v1.insert(name, vectors[1000:], ids[1000:])  # only in the log
        failovers = metric_sample(await cluster.metrics(http, "coordinator"), "quiver_channel_moves_total", reason="failover")

        async with SteadyReads(v1, name, vectors, ids) as reads:
            drain = await asyncio.create_subprocess_exec(
                *role_argv("datanode", "--drain", "--node-id", "datanode-1", "--coordinator", cluster.coordinator_address,
                           "--data-dir", str(cluster.root / "datanode-1"), *cluster.log_flags),
            )
            assert await asyncio.wait_for(drain.wait(), timeout=60) == 0
            await asyncio.sleep(1)  # the drained node hears it at its next heartbeat
            await cluster.kill("datanode-1")  # removed: nothing was left on it
            await asyncio.sleep(2)
        reads.assert_none_failed("datanode-1 was drained and removed")
        coordinator = await cluster.metrics(http, "coordinator")
        assert metric_sample(coordinator, "quiver_channel_moves_total", reason="failover") == failovers
        assert metric_sample(coordinator, "quiver_channels_unserved") == 0
        stored = {**await v1.get_vectors(name, ids[:1000]), **await v1.get_vectors(name, ids[1000:])}
        assert [i for i in ids if not stored[i]] == []


class SteadyReads:
    """Searches for random stored rows, one after another, while the block runs; a read fails
    when it errs or misses its row."""

    def __init__(self, v1: V1Client, name: str, vectors: np.ndarray, ids: list[int]) -> None:
        self.v1, self.name, self.vectors, self.ids = v1, name, vectors, ids
        self.reads = 0
        self.failed: list[tuple[int, object]] = []
        self._stop = asyncio.Event()

    async def __aenter__(self) -> SteadyReads:
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        await self._task

    async def _read(self) -> None:
        rng = np.random.default_rng(17)
        while not self._stop.is_set():
            picked = rng.choice(len(self.ids), 4, replace=False)
            status, reply = await self.v1.request(
                "PUT", f"/collections/{self.name}/vectors",
                {"search": {"topk": 1, "vectors": self.vectors[picked].tolist(), "params": {}}},
            )
            self.reads += 1
            if status != 200 or [int(hits[0]["id"]) for hits in reply["results"]] != [self.ids[i] for i in picked]:
                self.failed.append((status, reply))

    def assert_none_failed(self, meanwhile: str) -> None:
        print(f"\n{self.reads} reads while {meanwhile}, {len(self.failed)} failed")
        assert self.reads > 50 and not self.failed, f"{len(self.failed)} of {self.reads} reads failed, e.g. {self.failed[:2]}"


async def test_an_unreachable_log_at_start_up_is_named(tmp_path: Path) -> None:
    from quiver.standalone import LOOPBACK, Child, free_port

    (tmp_path / "objects").mkdir()
    address = f"nats://{LOOPBACK}:{free_port()}"  # nothing listens there
    child = Child(
        "datanode",
        role_argv("datanode", "--port", "0", "--data-dir", str(tmp_path / "data"), "--coordinator", f"{LOOPBACK}:1",
                  "--object-store", (tmp_path / "objects").as_uri(), "--log-servers", address),
        tmp_path / "datanode.log",
    )
    await child.start()
    assert child.process is not None
    assert await asyncio.wait_for(child.process.wait(), timeout=60) != 0
    assert f"the log (NATS JetStream) at {address} is unreachable" in (tmp_path / "datanode.log").read_text()
