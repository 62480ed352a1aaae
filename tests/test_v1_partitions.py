"""Partitions and segments through the Milvus 0.x API."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import numpy as np

from tests.cluster import TestCluster, V1Client
from tests.reference import assert_same_hits, float_distances, top_k


async def insert_into(v1: V1Client, name: str, vectors: np.ndarray, tag: str, ids: list[int]) -> None:
    status, reply = await v1.request(
        "POST", f"/collections/{name}/vectors",
        {"vectors": vectors.tolist(), "ids": [str(i) for i in ids], "partition_tag": tag},
    )
    assert status == 201, reply


async def expect(v1: V1Client, method: str, path: str, body: Any, status: int, code: int) -> None:
    got, reply = await v1.request(method, path, body)
    assert (got, reply.get("code")) == (status, code), reply


async def test_partition_lifecycle_and_paging(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 4)
    path = f"/collections/{name}/partitions"
    for tag in ("tag_a", "1970-01-01", "  spaced  "):
        assert await v1.request("POST", path, {"partition_tag": tag}) == (201, {"message": "OK", "code": 0})
    status, listing = await v1.request("GET", path + "?offset=0&page_size=10")
    assert (status, listing) == (200, {
        "partitions": [{"partition_tag": t} for t in ("_default", "tag_a", "1970-01-01", "spaced")],
        "count": 4,
    })
    status, page = await v1.request("GET", path + "?offset=1&page_size=2")
    assert page == {"partitions": [{"partition_tag": "tag_a"}, {"partition_tag": "1970-01-01"}], "count": 4}
    status, page = await v1.request("GET", path + "?offset=9")
    assert page == {"partitions": [], "count": 4}

    await expect(v1, "POST", path, {}, 400, 34)
    await expect(v1, "POST", path, {"partition_tag": None}, 400, 34)
    await expect(v1, "POST", path, {"partition_tag": "_default"}, 400, 1)
    await expect(v1, "POST", path, {"partition_tag": "   "}, 400, 1)
    await expect(v1, "POST", path, {"partition_tag": "x" * 256}, 400, 1)
    await expect(v1, "POST", path, {"partition_tag": "tag_a"}, 400, 1)
    await expect(v1, "POST", "/collections/no_such_collection/partitions", {"partition_tag": "t"}, 404, 4)
    await expect(v1, "GET", path + "?offset=-1", None, 400, 37)

    await expect(v1, "DELETE", path, {"partition_tag": "_default"}, 400, 9)
    await expect(v1, "DELETE", path, {"partition_tag": "no_such_tag"}, 404, 4)
    await expect(v1, "DELETE", path, {"partition_tag": 7}, 400, 36)
    await expect(v1, "DELETE", path, {}, 400, 36)
    got, _ = await v1.request("DELETE", path, {"partition_tag": " tag_a "})
    assert got == 204
    _, listing = await v1.request("GET", path)
    assert [p["partition_tag"] for p in listing["partitions"]] == ["_default", "1970-01-01", "spaced"]


async def test_partition_scoped_search_never_returns_other_partitions(v1: V1Client, name: str) -> None:
    rng = np.random.default_rng(31)
    await v1.create_collection(name, 16)
    tags = ["_default", "red", "green"]
    for tag in tags[1:]:
        await v1.request("POST", f"/collections/{name}/partitions", {"partition_tag": tag})
    vectors = {tag: rng.standard_normal((400, 16)).astype(np.float32) for tag in tags}
    ids = {tag: list(range(i * 1000, i * 1000 + 400)) for i, tag in enumerate(tags)}
    for tag in tags:
        await insert_into(v1, name, vectors[tag], tag, ids[tag])
    queries = rng.standard_normal((20, 16)).astype(np.float32)

    for wanted in (["red"], ["gr.*"], ["red", "_default"]):
        chosen = [t for t in tags if any(re.fullmatch(w, t) for w in wanted)]
        base = np.concatenate([vectors[t] for t in chosen])
        base_ids = np.concatenate([ids[t] for t in chosen])
        expected = top_k(float_distances(base, queries, "L2"), base_ids, 10)
        assert_same_hits(await v1.search(name, queries, 10, partition_tags=wanted), expected)

    await v1.flush(name)  # counts are exact once flushed
    stat = await v1.stat(name)
    assert [(p["tag"], p["row_count"]) for p in stat["partitions"]] == [(t, 400) for t in tags]
    assert stat["row_count"] == 1200


async def test_dropping_a_partition_drops_its_data_everywhere(
    v1: V1Client, cluster: TestCluster, name: str
) -> None:
    rng = np.random.default_rng(37)
    await v1.create_collection(name, 8)
    await v1.request("POST", f"/collections/{name}/partitions", {"partition_tag": "doomed"})
    keep = rng.standard_normal((100, 8)).astype(np.float32)
    doomed = rng.standard_normal((100, 8)).astype(np.float32)
    await insert_into(v1, name, keep, "_default", list(range(100)))
    await insert_into(v1, name, doomed, "doomed", list(range(100, 200)))
    await v1.flush(name)
    doomed_segments = [s["name"] for s in (await v1.stat(name))["partitions"][1]["segments"]]
    assert doomed_segments and all(_segment_dir_exists(cluster, s) for s in doomed_segments)

    got, _ = await v1.request("DELETE", f"/collections/{name}/partitions", {"partition_tag": "doomed"})
    assert got == 204
    hits = await v1.search(name, doomed[:10], 5)
    assert all(i < 100 for q in hits for i, _ in q)
    assert await v1.get_vectors(name, [100, 150]) == {100: [], 150: []}
    assert (await v1.info(name))["count"] == 100
    assert not any(_segment_dir_exists(cluster, s) for s in doomed_segments)
    await expect(v1, "POST", f"/collections/{name}/vectors",
                 {"vectors": keep[:1].tolist(), "ids": ["999"], "partition_tag": "doomed"}, 404, 4)


def _segment_dir_exists(cluster: TestCluster, segment: str) -> bool:
    return any((cluster.root / node.name / "segments" / segment).exists() for node in cluster.data_nodes)


async def test_segments_listing_and_rows(v1: V1Client, name: str) -> None:
    rng = np.random.default_rng(41)
    await v1.create_collection(name, 4)
    await v1.request("POST", f"/collections/{name}/partitions", {"partition_tag": "p1"})
    first = rng.standard_normal((30, 4)).astype(np.float32)
    second = rng.standard_normal((20, 4)).astype(np.float32)
    await insert_into(v1, name, first, "_default", list(range(30)))
    await insert_into(v1, name, second, "p1", list(range(100, 120)))
    await v1.request("PUT", f"/collections/{name}/vectors", {"delete": {"ids": ["0", "1"]}})
    await v1.flush(name)

    status, listing = await v1.request("GET", f"/collections/{name}/segments")
    assert status == 200 and listing["code"] == 0 and listing["message"] == "OK"
    assert listing["count"] == 2
    assert [(s["partition_tag"], s["row_count"], s["index_name"]) for s in listing["segments"]] == [
        ("_default", 28, "IDMAP"), ("p1", 20, "IDMAP")
    ]
    assert all(s["data_size"] > 0 for s in listing["segments"])
    status, only = await v1.request("GET", f"/collections/{name}/segments?partition_tag=p1")
    assert only["count"] == 1 and only["segments"][0]["partition_tag"] == "p1"
    status, page = await v1.request("GET", f"/collections/{name}/segments?offset=1&page_size=1")
    assert page["count"] == 2 and [s["partition_tag"] for s in page["segments"]] == ["p1"]

    segment = listing["segments"][0]["name"]
    status, ids = await v1.request("GET", f"/collections/{name}/segments/{segment}/ids?offset=0&page_size=100")
    assert (status, ids) == (200, {"ids": [str(i) for i in range(2, 30)], "count": 28})
    status, rows = await v1.request("GET", f"/collections/{name}/segments/{segment}/vectors?offset=5&page_size=2")
    assert status == 200 and rows["count"] == 28 and rows["code"] == 0
    assert [r["id"] for r in rows["vectors"]] == ["7", "8"]
    np.testing.assert_array_equal(np.array([r["vector"] for r in rows["vectors"]], dtype=np.float32), first[7:9])

    other = listing["segments"][1]["name"]
    await expect(v1, "GET", f"/collections/{name}/segments/123456/ids", None, 404, 4)
    await expect(v1, "GET", f"/collections/{name}/segments/abc/vectors", None, 404, 4)
    await expect(v1, "GET", f"/collections/{name}/segments/{other}/ids?page_size=x", None, 400, 37)
    await expect(v1, "GET", f"/collections/no_such_collection/segments/{other}/ids", None, 404, 4)
    got, _ = await v1.request("GET", f"/collections/{name}/segments/{other}/nothing")
    assert got == 404
