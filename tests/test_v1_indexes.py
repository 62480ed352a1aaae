"""Indexes through the Milvus 0.x API: built by index nodes, loaded by data nodes, used by search."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import faiss
import numpy as np
import orjson
import pytest
from annoy import AnnoyIndex

from tests.cluster import TestCluster, V1Client
from tests.datasets import load_siftsmall, recall_at
from tests.reference import assert_same_hits, binary_distances, float_distances, top_k

DIM = 128


async def search_ids(v1: V1Client, name: str, queries: np.ndarray, k: int, params: dict[str, Any]) -> list[list[int]]:
    status, reply = await v1.request(
        "PUT", f"/collections/{name}/vectors",
        {"search": {"topk": k, "vectors": queries.tolist(), "params": params}},
    )
    assert status == 200, reply
    return [[int(hit["id"]) for hit in hits] for hits in reply["results"]]


async def create_index(v1: V1Client, name: str, index_type: str, params: dict[str, Any]) -> None:
    status, reply = await v1.request("POST", f"/collections/{name}/indexes", {"index_type": index_type, "params": params})
    assert (status, reply) == (201, {"message": "OK", "code": 0}), reply


@pytest.fixture(scope="module")
async def sift(cluster: TestCluster, http: aiohttp.ClientSession) -> AsyncIterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """siftsmall in one sealed segment, with ids equal to the ground truth's row numbers."""
    base, queries, truth = load_siftsmall()
    v1 = V1Client(http, cluster.v1_url)
    name = "siftsmall_indexes"
    await v1.create_collection(name, DIM, "L2")
    for start in range(0, len(base), 2000):
        await v1.insert(name, base[start : start + 2000], list(range(start, start + 2000)))
    await v1.flush(name)
    yield name, base, queries, truth
    await v1.request("DELETE", f"/collections/{name}")


def reference_ivf(encoding: Callable[[faiss.Index], faiss.Index]) -> Callable[[np.ndarray, np.ndarray], list[list[int]]]:
    def run(base: np.ndarray, queries: np.ndarray) -> list[list[int]]:
        index = encoding(faiss.IndexFlatL2(DIM))
        index.train(base)
        index.add(base)
        _, found = index.search(queries, 10, params=faiss.SearchParametersIVF(nprobe=16))
        return found.tolist()

    return run


def reference_hnsw(base: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    index = faiss.IndexHNSWFlat(DIM, 16)
    index.hnsw.efConstruction = 200
    index.add(base)
    _, found = index.search(queries, 10, params=faiss.SearchParametersHNSW(efSearch=64))
    return found.tolist()


def reference_nsg(base: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    index = faiss.IndexNSGFlat(DIM, 30)
    index.GK, index.nsg.L, index.nsg.C = 50, 40, 100
    index.add(base)
    index.nsg.search_L = 40
    _, found = index.search(queries, 10)
    return found.tolist()


def reference_annoy(base: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    index = AnnoyIndex(DIM, "euclidean")
    for row, vector in enumerate(base):
        index.add_item(row, vector)
    index.build(16)
    return [index.get_nns_by_vector(q, 10, search_k=4000) for q in queries]


RECALL_CASES = [
    ("IVFFLAT", {"nlist": 128}, {"nprobe": 16}, "IVFFLAT",
     reference_ivf(lambda q: faiss.IndexIVFFlat(q, DIM, 128))),
    ("IVFSQ8", {"nlist": 128}, {"nprobe": 16}, "IVFSQ8",
     reference_ivf(lambda q: faiss.IndexIVFScalarQuantizer(q, DIM, 128, faiss.ScalarQuantizer.QT_8bit))),
    ("IVFPQ", {"nlist": 128, "m": 16}, {"nprobe": 16}, "PQ",
     reference_ivf(lambda q: faiss.IndexIVFPQ(q, DIM, 128, 16, 8))),
    ("HNSW", {"M": 16, "efConstruction": 200}, {"ef": 64}, "HNSW", reference_hnsw),
    ("ANNOY", {"n_trees": 16}, {"search_k": 4000}, "ANNOY", reference_annoy),
    ("RNSG", {"search_length": 40, "out_degree": 30, "candidate_pool_size": 100, "knng": 50},
     {"search_length": 40}, "NSG", reference_nsg),
]


@pytest.mark.parametrize(("index_type", "build", "search", "engine", "reference"), RECALL_CASES,
                         ids=[c[0] for c in RECALL_CASES])
async def test_recall_through_rest_matches_the_same_index_built_in_process(
    v1: V1Client, sift: tuple[str, np.ndarray, np.ndarray, np.ndarray],
    index_type: str, build: dict[str, int], search: dict[str, int], engine: str,
    reference: Callable[[np.ndarray, np.ndarray], list[list[int]]],
) -> None:
    name, base, queries, truth = sift
    await create_index(v1, name, index_type, build)
    status, index = await v1.request("GET", f"/collections/{name}/indexes")
    assert (status, index) == (200, {"index_type": index_type, "params": build})
    info = await v1.info(name)
    assert info["index"] == index_type
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    assert [s["index_name"] for s in segments] == [engine], "the sealed segment is served by the index"

    got = recall_at(await search_ids(v1, name, queries, 10, search), truth)
    expected = recall_at(reference(base, queries), truth)
    assert got >= expected - 0.01, f"{index_type}: recall@10 {got:.3f} through REST, {expected:.3f} in process"


async def test_flat_index_and_drop_index_are_exact(
    v1: V1Client, cluster: TestCluster, sift: tuple[str, np.ndarray, np.ndarray, np.ndarray]
) -> None:
    name, base, queries, _ = sift
    await create_index(v1, name, "HNSW", {"M": 8, "efConstruction": 40})
    status, _ = await v1.request("DELETE", f"/collections/{name}/indexes")
    assert status == 204
    assert await v1.request("GET", f"/collections/{name}/indexes") == (200, {"index_type": "FLAT", "params": {}})
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    for segment in segments:
        assert not list(cluster.root.glob(f"datanode-*/segments/{segment['name']}/index-*")), "the index files are gone"
    assert [s["index_name"] for s in segments] == ["IDMAP"]
    expected = top_k(float_distances(base, queries[:20], "L2"), np.arange(len(base)), 10)
    assert_same_hits(await v1.search(name, queries[:20], 10), expected)

    await create_index(v1, name, "FLAT", {"nlist": 10})  # Milvus accepted FLAT with any params
    assert (await v1.info(name))["index"] == "FLAT"
    assert_same_hits(await v1.search(name, queries[:20], 10), expected)


@pytest.mark.parametrize(("index_type", "build", "search"), [
    ("HNSW", {"M": 16, "efConstruction": 100}, {"ef": 64}),       # deletes masked inside faiss
    ("RNSG", {"search_length": 40, "out_degree": 20, "candidate_pool_size": 100, "knng": 20},
     {"search_length": 60}),                                        # over-fetch and drop
    ("ANNOY", {"n_trees": 8}, {"search_k": -1}),
])
async def test_indexed_searches_never_return_deleted_rows(
    v1: V1Client, name: str, index_type: str, build: dict[str, int], search: dict[str, int]
) -> None:
    rng = np.random.default_rng(21)
    base = rng.standard_normal((5000, 32)).astype(np.float32)
    await v1.create_collection(name, 32)
    ids = await v1.insert(name, base)
    await v1.flush(name)
    await create_index(v1, name, index_type, build)
    queries = base[:50]
    first = await search_ids(v1, name, queries, 5, search)
    gone = sorted({hits[0] for hits in first})
    status, _ = await v1.request("PUT", f"/collections/{name}/vectors", {"delete": {"ids": [str(i) for i in gone]}})
    assert status == 200
    after = await search_ids(v1, name, queries, 5, search)
    assert all(len(hits) == 5 for hits in after)
    assert not set(gone) & {i for hits in after for i in hits}
    assert set(ids) >= {i for hits in after for i in hits}


async def test_binary_indexes(v1: V1Client, name: str) -> None:
    rng = np.random.default_rng(8)
    base = rng.integers(0, 256, (6000, 16), dtype=np.uint8)
    await v1.create_collection(name, 128, "HAMMING")
    ids = np.array(await v1.insert(name, base))
    await v1.flush(name)
    queries = rng.integers(0, 256, (10, 16), dtype=np.uint8)
    expected = top_k(binary_distances(base, queries, "HAMMING"), ids, 10)

    await create_index(v1, name, "FLAT", {})  # BIN_FLAT: exact
    assert_same_hits(await v1.search(name, queries, 10), expected)
    await create_index(v1, name, "IVFFLAT", {"nlist": 32})  # BIN_IVF_FLAT, built by an index node
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    assert [s["index_name"] for s in segments] == ["IVFFLAT"]
    hits = await v1.search(name, queries, 10, params={"nprobe": 32})  # every list: exact again
    assert [[h[1] for h in q] for q in hits] == [[h[1] for h in q] for q in expected]
    status, reply = await v1.request("POST", f"/collections/{name}/indexes", {"index_type": "HNSW", "params": {"M": 8, "efConstruction": 40}})
    assert (status, reply["code"]) == (400, 8)


async def test_build_runs_while_searches_and_inserts_continue(v1: V1Client, name: str) -> None:
    rng = np.random.default_rng(13)
    base = rng.standard_normal((20000, 64)).astype(np.float32)
    await v1.create_collection(name, 64)
    await v1.insert(name, base[:10000])
    await v1.insert(name, base[10000:])
    await v1.flush(name)
    queries = base[:20]
    exact = await search_ids(v1, name, queries, 10, {})
    stop, errors, searches = asyncio.Event(), [], 0

    async def keep_searching() -> None:
        nonlocal searches
        while not stop.is_set():
            status, reply = await v1.request(
                "PUT", f"/collections/{name}/vectors",
                {"search": {"topk": 10, "vectors": queries.tolist(), "params": {"nprobe": 1}}},
            )
            searches += 1
            if status != 200:
                errors.append(reply)

    async def keep_inserting() -> None:
        while not stop.is_set():  # far from the queries: the exact answers stay the same
            far = rng.standard_normal((100, 64)) + 50.0
            status, reply = await v1.request("POST", f"/collections/{name}/vectors", {"vectors": far.tolist()})
            if status != 201:
                errors.append(reply)

    workers = [asyncio.create_task(keep_searching()), asyncio.create_task(keep_inserting())]
    await create_index(v1, name, "IVFFLAT", {"nlist": 256})
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*workers)
    assert not errors and searches > 1
    # nprobe=1 of 256 lists: the index answers, approximately, instead of the brute force.
    approximate = await search_ids(v1, name, queries, 10, {"nprobe": 1})
    assert approximate != exact
    assert await search_ids(v1, name, queries, 10, {"nprobe": 256}) == exact


INDEX_ERRORS = [
    ({"params": {}}, 34),
    ({"index_type": "IVFFLAT"}, 34),
    (b'{"index_type": ', 36),
    ({"index_type": "NOPE", "params": {}}, 8),
    ({"index_type": "IVFFLAT", "params": {}}, 5),
    ({"index_type": "IVFFLAT", "params": {"nlist": 0}}, 5),
    ({"index_type": "IVFFLAT", "params": {"nlist": 65537}}, 5),
    ({"index_type": "IVFPQ", "params": {"nlist": 16, "m": 7}}, 7),
    ({"index_type": "HNSW", "params": {"M": 3, "efConstruction": 100}}, 5),
    ({"index_type": "HNSW", "params": {"M": 16, "efConstruction": 513}}, 5),
    ({"index_type": "ANNOY", "params": {"n_trees": 1025}}, 5),
    ({"index_type": "RNSG", "params": {"search_length": 40, "out_degree": 30, "candidate_pool_size": 100}}, 5),
    ({"index_type": "IVFSQ8H", "params": {"nlist": 16}}, 8),  # no GPU in this cluster
]


@pytest.mark.parametrize(("body", "code"), INDEX_ERRORS)
async def test_create_index_rejects_bad_input(v1: V1Client, name: str, body: Any, code: int) -> None:
    await v1.create_collection(name, 16)
    raw = body if isinstance(body, bytes) else None
    status, reply = await v1.request("POST", f"/collections/{name}/indexes", None if raw else body, raw=raw)
    assert (status, reply["code"]) == (400, code), reply
    assert await v1.request("GET", f"/collections/{name}/indexes") == (200, {"index_type": "FLAT", "params": {}})


@pytest.mark.parametrize(("index_type", "params"), [
    ("IVFPQ", {"nlist": 16, "m": 4}),  # nbits is left to its default, 8
    ("IVFFLAT", {"nlist": "64"}),  # a number in a string, as some clients send it
    ("FLAT", {"nlist": 10}),  # Milvus accepted FLAT with any params, and showed them back
])
async def test_the_index_shows_its_build_parameters_as_the_client_gave_them(
    v1: V1Client, name: str, index_type: str, params: dict[str, Any]
) -> None:
    await v1.create_collection(name, 16)
    await create_index(v1, name, index_type, params)
    assert await v1.request("GET", f"/collections/{name}/indexes") == (200, {"index_type": index_type, "params": params})
    assert orjson.loads((await v1.info(name))["index_params"]) == params


async def test_index_routes_on_missing_collections(v1: V1Client) -> None:
    for method, body in (("GET", None), ("POST", {"index_type": "FLAT", "params": {}}), ("DELETE", None)):
        status, reply = await v1.request(method, "/collections/no_such_collection/indexes", body)
        assert (status, reply["code"]) == (404, 4)


async def test_search_params_are_checked_against_the_index(v1: V1Client, name: str) -> None:
    await v1.create_collection(name, 8)
    await v1.insert(name, np.ones((10, 8), dtype=np.float32))
    await create_index(v1, name, "HNSW", {"M": 8, "efConstruction": 40})
    for params in ({}, {"ef": 5}, {"ef": 32769}, {"ef": "many"}):
        status, reply = await v1.request(
            "PUT", f"/collections/{name}/vectors", {"search": {"topk": 10, "vectors": [[1.0] * 8], "params": params}}
        )
        assert (status, reply["code"]) == (400, 5), params


@pytest.fixture
async def two_index_nodes(tmp_path: Path) -> AsyncIterator[TestCluster]:
    running = TestCluster(tmp_path, data_nodes=1, index_nodes=2, claim_timeout_s=2.0)
    try:
        await running.start()
        yield running
    except BaseException:
        print(running.log_tail())
        raise
    finally:
        await running.stop()


async def test_index_node_killed_mid_build_leaves_the_task_to_another(
    two_index_nodes: TestCluster, http: aiohttp.ClientSession, name: str
) -> None:
    cluster = two_index_nodes
    v1 = V1Client(http, cluster.v1_url)
    rng = np.random.default_rng(17)
    base = rng.standard_normal((30000, 64)).astype(np.float32)
    await v1.create_collection(name, 64)
    ids: list[int] = []
    for start in range(0, len(base), 10000):
        ids += await v1.insert(name, base[start : start + 10000])
    await v1.flush(name)

    build = asyncio.create_task(create_index(v1, name, "HNSW", {"M": 32, "efConstruction": 400}))
    builder = await _wait_for_builder(cluster)
    await cluster.kill(builder.name)
    other = next(n for n in cluster.index_nodes if n is not builder)
    await asyncio.wait_for(build, timeout=240)  # answers once the other node built it

    assert re.search(r"building HNSW over 30000 rows", other.log_path.read_text())
    segments = (await v1.stat(name))["partitions"][0]["segments"]
    assert [s["index_name"] for s in segments] == ["HNSW"]
    hits = await search_ids(v1, name, base[:20], 1, {"ef": 64})
    assert sum(h[0] == i for h, i in zip(hits, ids[:20])) >= 19, "each vector finds itself"


async def _wait_for_builder(cluster: TestCluster):  # type: ignore[no-untyped-def]
    for _ in range(400):
        for node in cluster.index_nodes:
            if node.log_path.exists() and "building HNSW" in node.log_path.read_text():
                return node
        await asyncio.sleep(0.05)
    raise AssertionError("no index node started the build")


async def test_segments_sealed_later_are_indexed_and_small_ones_stay_brute_force(
    v1: V1Client, name: str
) -> None:
    rng = np.random.default_rng(23)
    await v1.create_collection(name, 16)
    await create_index(v1, name, "IVFFLAT", {"nlist": 32})  # nothing sealed yet: answers at once
    small = rng.standard_normal((1000, 16)).astype(np.float32)
    big = rng.standard_normal((5000, 16)).astype(np.float32)
    await v1.insert(name, small)
    await v1.flush(name)
    await v1.insert(name, big)
    await v1.flush(name)
    for _ in range(200):  # the new segment's build runs in the background
        segments = (await v1.stat(name))["partitions"][0]["segments"]
        names = sorted((s["row_count"], s["index_name"]) for s in segments)
        if names == [(1000, "IDMAP"), (5000, "IVFFLAT")]:
            break
        await asyncio.sleep(0.1)
    assert names == [(1000, "IDMAP"), (5000, "IVFFLAT")]
