"""Filtered search through REST v2: QPS with filters selecting 1% and 50% of the rows, against
unfiltered search on the same data (HNSW index, filter applied inside the search).

    python bench/filtered_search.py [--rows 50000] [--url http://127.0.0.1:19530]

Without --url it starts a standalone cluster of its own. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import numpy as np
import orjson

from common import cluster, flush

COLLECTION = "filtered_bench"
DIM = 64
HEADERS = {"Authorization": "Bearer root:Milvus", "Content-Type": "application/json"}


async def post(http: aiohttp.ClientSession, url: str, path: str, body: dict) -> object:
    async with http.post(f"{url}/v2/vectordb/{path}", data=orjson.dumps(body), headers=HEADERS) as r:
        reply = await r.json(content_type=None)
    if reply.get("code") != 0:
        raise RuntimeError(f"{path}: {reply}")
    return reply["data"]


async def load(http: aiohttp.ClientSession, url: str, v1_url: str, rows: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    await post(http, url, "collections/drop", {"collectionName": COLLECTION})
    schema = {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
        {"fieldName": "bucket", "dataType": "Int32"},
    ]}
    await post(http, url, "collections/create", {"collectionName": COLLECTION, "schema": schema})
    for start in range(0, rows, 2000):
        data = [{"id": i, "vector": vectors[i].tolist(), "bucket": i % 100} for i in range(start, min(rows, start + 2000))]
        await post(http, url, "entities/insert", {"collectionName": COLLECTION, "data": data})
    await flush(http, v1_url, COLLECTION)
    await post(http, url, "indexes/create", {"collectionName": COLLECTION, "indexParams": [
        {"fieldName": "vector", "indexType": "HNSW", "metricType": "L2", "params": {"M": 16, "efConstruction": 100}}]})
    while True:  # the REST v2 create answers at once: wait for the build
        (index,) = await post(http, url, "indexes/describe", {"collectionName": COLLECTION, "indexName": "vector"})
        if index["indexState"] == "Finished":
            break
        await asyncio.sleep(0.5)
    await post(http, url, "collections/load", {"collectionName": COLLECTION})
    return vectors


async def qps(http: aiohttp.ClientSession, url: str, queries: np.ndarray, expression: str, requests: int) -> float:
    bodies = [
        orjson.dumps({"collectionName": COLLECTION, "data": [q.tolist()], "limit": 10, "filter": expression,
                      "searchParams": {"params": {"ef": 64}}})
        for q in queries
    ]
    counter = iter(range(requests))

    async def worker() -> None:
        for n in counter:
            async with http.post(f"{url}/v2/vectordb/entities/search", data=bodies[n % len(bodies)], headers=HEADERS) as r:
                reply = await r.json(content_type=None)
                assert reply["code"] == 0 and len(reply["data"]) == 10, reply

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    return requests / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> list[tuple[str, float]]:
    async with cluster(args.v1_url, args.url) as endpoints, aiohttp.ClientSession() as http:
        url = endpoints.http
        vectors = await load(http, url, endpoints.v1, args.rows)
        queries = vectors[:100] + 0.01
        cases = [("no filter", ""), ("1% (bucket < 1)", "bucket < 1"), ("50% (bucket < 50)", "bucket < 50")]
        results = [(label, await qps(http, url, queries, expression, args.requests)) for label, expression in cases]
        await post(http, url, "collections/release", {"collectionName": COLLECTION})
        await post(http, url, "indexes/create", {"collectionName": COLLECTION,
                                                 "indexParams": [{"fieldName": "bucket", "indexType": "STL_SORT"}]})
        await post(http, url, "collections/load", {"collectionName": COLLECTION})
        results.append(("1%, STL_SORT index on bucket", await qps(http, url, queries, "bucket < 1", args.requests)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v1-url", help="a running cluster's Milvus 0.x URL")
    parser.add_argument("--url", help="the same cluster's REST v2 URL")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    base = results[0][1]
    print(f"{'search':>32} {'QPS':>8} {'vs unfiltered':>14}   ({args.rows:,} x {DIM}, HNSW, top 10, concurrency 8)")
    for label, value in results:
        print(f"{label:>32} {value:>8,.0f} {value / base:>13.2f}x")


if __name__ == "__main__":
    main()
