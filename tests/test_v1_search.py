"""Inserts spread over two data nodes (a collection of two shard channels, one consumed by
each); searches must equal a numpy brute force exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cluster import TestCluster, V1Client, V2Client, create_sharded_collection
from tests.reference import assert_same_hits, binary_distances, float_distances, top_k

BINARY_METRICS = ["HAMMING", "JACCARD", "TANIMOTO", "SUBSTRUCTURE", "SUPERSTRUCTURE"]


def segment_count(cluster: TestCluster, node: str) -> int:
    segments = cluster.root / node / "segments"
    return sum(1 for p in segments.iterdir() if (p / "meta.json").exists()) if segments.exists() else 0


async def insert_in_batches(v1: V1Client, name: str, vectors: np.ndarray, batch: int) -> np.ndarray:
    ids: list[int] = []
    for start in range(0, len(vectors), batch):
        ids += await v1.insert(name, vectors[start : start + batch])
    return np.array(ids, dtype=np.int64)


@pytest.mark.parametrize("metric", ["L2", "IP"])
async def test_float_search_across_two_data_nodes_equals_numpy(
    v1: V1Client, v2: V2Client, cluster: TestCluster, name: str, metric: str
) -> None:
    rng = np.random.default_rng(7)
    dim = 64
    await create_sharded_collection(v2, name, dim, metric, shards=2)
    base = rng.standard_normal((12_000, dim)).astype(np.float32)
    ids = await insert_in_batches(v1, name, base, 1000)
    assert len(set(ids.tolist())) == len(base)

    for node in ("datanode-1", "datanode-2"):
        assert segment_count(cluster, node) >= 1, f"{node} got no segment"

    queries = rng.standard_normal((25, dim)).astype(np.float32)
    expected = top_k(float_distances(base, queries, metric), ids, 10, descending=metric == "IP")
    # Searchable as soon as the inserts returned, before any flush ...
    assert_same_hits(await v1.search(name, queries, 10), expected)
    # ... and the same after the growing segments are sealed and written to disk.
    await v1.flush(name)
    assert_same_hits(await v1.search(name, queries, 10), expected)
    info = await v1.info(name)
    assert info["count"] == len(base)


@pytest.mark.parametrize("metric", BINARY_METRICS)
async def test_binary_search_across_two_data_nodes_equals_numpy(
    v1: V1Client, v2: V2Client, cluster: TestCluster, name: str, metric: str
) -> None:
    rng = np.random.default_rng(11)
    dim_bits = 512
    await create_sharded_collection(v2, name, dim_bits, metric, shards=2, binary=True)
    # Sparse-ish bits so that substructure/superstructure queries have several matches.
    base = (rng.random((20_000, dim_bits // 8, 8)) < 0.3).astype(np.uint8)
    base = np.packbits(base, axis=2, bitorder="little").reshape(20_000, dim_bits // 8)
    ids = await insert_in_batches(v1, name, base, 2500)
    await v1.flush(name)
    for node in ("datanode-1", "datanode-2"):
        assert segment_count(cluster, node) >= 1, f"{node} got no segment"

    picks = rng.choice(len(base), size=(6, 2), replace=False)
    if metric == "SUBSTRUCTURE":  # contained in at least two stored rows
        queries = base[picks[:, 0]] & base[picks[:, 1]]
    elif metric == "SUPERSTRUCTURE":  # contains at least one stored row
        queries = base[picks[:, 0]] | rng.integers(0, 256, (6, dim_bits // 8), dtype=np.uint8)
    else:
        queries = rng.integers(0, 256, (6, dim_bits // 8), dtype=np.uint8)

    expected = top_k(binary_distances(base, queries, metric), ids, 20, drop_inf=metric.endswith("STRUCTURE"))
    got = await v1.search(name, queries, 20)
    assert_same_hits(got, expected)
    if metric.endswith("STRUCTURE"):
        assert all(hits for hits in got), "every query was built to match at least one row"


async def test_get_by_id_returns_stored_vectors_in_request_order(v1: V1Client, name: str) -> None:
    rng = np.random.default_rng(3)
    await v1.create_collection(name, 8)
    base = rng.standard_normal((50, 8)).astype(np.float32)
    ids = await v1.insert(name, base)
    wanted = [ids[7], 12345, ids[0], ids[49]]
    status, reply = await v1.request("GET", f"/collections/{name}/vectors?ids=" + ",".join(map(str, wanted)))
    assert status == 200
    assert [v["id"] for v in reply["vectors"]] == [str(i) for i in wanted]
    assert reply["vectors"][1]["vector"] == []
    for row, entry in ((7, 0), (0, 2), (49, 3)):
        np.testing.assert_array_equal(np.array(reply["vectors"][entry]["vector"], dtype=np.float32), base[row])


async def test_user_ids_and_deletes(v1: V1Client, name: str) -> None:
    rng = np.random.default_rng(5)
    await v1.create_collection(name, 16, "L2")
    base = rng.standard_normal((300, 16)).astype(np.float32)
    user_ids = list(range(1000, 1300))
    assert await v1.insert(name, base, user_ids) == user_ids
    gone = user_ids[:100]
    status, reply = await v1.request(
        "PUT", f"/collections/{name}/vectors", {"delete": {"ids": [str(i) for i in gone]}}
    )
    assert (status, reply) == (200, {"code": 0, "message": "OK"})
    # Deleted rows disappear from searches and lookups at once ...
    hits = await v1.search(name, base[:100], 1)
    assert all(h[0][0] >= 1100 for h in hits)
    vectors = await v1.get_vectors(name, gone[:5] + [1200])
    assert [vectors[i] for i in gone[:5]] == [[]] * 5 and len(vectors[1200]) == 16
    # ... and from the count once flushed; the rest still matches numpy.
    await v1.flush(name)
    assert (await v1.info(name))["count"] == 200
    live = np.array(user_ids[100:])
    expected = top_k(float_distances(base[100:], base[:10], "L2"), live, 5)
    assert_same_hits(await v1.search(name, base[:10], 5), expected)
    stat = await v1.stat(name)
    assert stat["row_count"] == 200 == sum(s["row_count"] for s in stat["partitions"][0]["segments"])


async def test_collection_listing_paging_and_drop(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 4, "IP", index_file_size=16)
    status, info = await v1.request("GET", f"/collections/{name}")
    assert status == 200
    assert info == {
        "collection_name": name,
        "dimension": 4,
        "index_file_size": 16,
        "index": "FLAT",
        "index_params": "{}",
        "metric_type": "IP",
        "count": 0,
    }
    status, listing = await v1.request("GET", "/collections?offset=0&page_size=0")
    assert status == 200 and listing["collections"] == [] and listing["count"] >= 1
    status, listing = await v1.request("GET", f"/collections?offset=0&page_size={listing['count']}")
    assert name in [c["collection_name"] for c in listing["collections"]]
    status, _ = await v1.request("DELETE", f"/collections/{name}")
    assert status == 204
    status, reply = await v1.request("GET", f"/collections/{name}")
    assert (status, reply["code"]) == (404, 4)


async def test_search_restricted_to_segments_by_file_ids(v1: V1Client, name: str) -> None:
    rng = np.random.default_rng(9)
    await v1.create_collection(name, 8)
    first = rng.standard_normal((20, 8)).astype(np.float32)
    first_ids = await v1.insert(name, first)
    await v1.flush(name)  # seals the first segment; the next insert opens another
    second_ids = await v1.insert(name, rng.standard_normal((30, 8)).astype(np.float32))
    await v1.flush(name)
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    assert sorted(s["row_count"] for s in segments) == [20, 30]
    second_segment = next(s["name"] for s in segments if s["row_count"] == 30)
    hits = await v1.search(name, first[:3], 50, file_ids=[second_segment])
    assert all(sorted(h for h, _ in query) == sorted(second_ids) for query in hits)
    hits = await v1.search(name, first[:3], 50)
    assert all(sorted(h for h, _ in query) == sorted(first_ids + second_ids) for query in hits)
